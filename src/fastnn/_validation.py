"""A small parameter-constraint table, checked at ``fit`` (never in ``__init__``).

Each estimator declares ``_parameter_constraints = {name: [constraint, ...]}``;
a value is valid when it satisfies any one constraint.  Errors name the
parameter, the estimator, what is allowed and what was given.
"""

from numbers import Integral, Real

import numpy as np


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter has a wrong type or value (catch as either)."""


class Interval:
    """Numbers of ``kind`` (Integral or Real) between ``low`` and ``high``."""

    def __init__(self, kind, low, high, closed="both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def is_satisfied_by(self, value):
        if isinstance(value, bool) or not isinstance(value, self.kind):
            return False
        if not np.isfinite(value):
            return False
        lo_ok = self.low is None or (
            value >= self.low if self.closed in ("left", "both") else value > self.low
        )
        hi_ok = self.high is None or (
            value <= self.high if self.closed in ("right", "both") else value < self.high
        )
        return bool(lo_ok and hi_ok)

    def __str__(self):
        kind = "an int" if self.kind is Integral else "a float"
        left = "[" if self.closed in ("left", "both") and self.low is not None else "("
        right = "]" if self.closed in ("right", "both") and self.high is not None else ")"
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{kind} in the range {left}{low}, {high}{right}"


class Options:
    """One of a fixed set of values (strings, or special numbers such as inf)."""

    def __init__(self, *values):
        self.values = values

    def is_satisfied_by(self, value):
        return any(
            type(value) is type(v) and value == v
            or isinstance(v, float) and isinstance(value, Real) and value == v
            for v in self.values
        )

    def __str__(self):
        return "one of " + ", ".join(repr(v) for v in self.values)


class Boolean:
    def is_satisfied_by(self, value):
        return isinstance(value, (bool, np.bool_))

    def __str__(self):
        return "a bool"


class RandomState:
    def is_satisfied_by(self, value):
        return (
            value is None
            or isinstance(value, np.random.RandomState)
            or isinstance(value, Integral) and not isinstance(value, bool)
            and 0 <= value < 2**32
        )

    def __str__(self):
        return "an int in the range [0, 2**32), a numpy RandomState or None"


class LayerSizes:
    """A positive int or a sequence of positive ints."""

    def is_satisfied_by(self, value):
        if isinstance(value, Integral) and not isinstance(value, bool):
            return value >= 1
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            return False
        sizes = list(value)
        return all(
            isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes
        )

    def __str__(self):
        return "a positive int or a sequence of positive ints"


class DType:
    """float32 or float64, given as a NumPy type, dtype or name."""

    def is_satisfied_by(self, value):
        if value is None:  # np.dtype(None) would silently mean float64
            return False
        try:
            return np.dtype(value) in (np.float32, np.float64)
        except TypeError:
            return False

    def __str__(self):
        return "float32 or float64"


class Precision(DType):
    """``DType``, or "bfloat16": float32 weights trained with bfloat16 products."""

    def is_satisfied_by(self, value):
        return (isinstance(value, str) and value == "bfloat16") or super().is_satisfied_by(value)

    def __str__(self):
        return "float32, float64 or 'bfloat16'"


class NJobs:
    def is_satisfied_by(self, value):
        return value is None or (
            isinstance(value, Integral) and not isinstance(value, bool) and value != 0
        )

    def __str__(self):
        return "None or a non-zero int"


def validate_params(estimator):
    """Raise ``InvalidParameterError`` for the first parameter that fails its table."""
    name = type(estimator).__name__
    for param, constraints in estimator._parameter_constraints.items():
        value = getattr(estimator, param)
        if not any(c.is_satisfied_by(value) for c in constraints):
            allowed = " or ".join(str(c) for c in constraints)
            raise InvalidParameterError(
                f"The {param!r} parameter of {name} must be {allowed}. Got {value!r} instead."
            )


class Each:
    """A non-empty list or tuple whose every element satisfies ``constraint``."""

    def __init__(self, constraint):
        self.constraint = constraint

    def is_satisfied_by(self, value):
        return (isinstance(value, (list, tuple)) and len(value) > 0
                and all(self.constraint.is_satisfied_by(v) for v in value))

    def __str__(self):
        return f"a list with each element {self.constraint}"


class Callable:
    def is_satisfied_by(self, value):
        return callable(value)

    def __str__(self):
        return "a callable"


class Text:
    def is_satisfied_by(self, value):
        return isinstance(value, str)

    def __str__(self):
        return "a str"


class Mapping:
    def is_satisfied_by(self, value):
        return isinstance(value, dict)

    def __str__(self):
        return "a dict"
