"""fastnn: scikit-learn's multilayer perceptrons, trained by compiled Numba kernels."""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from ._compile import compile_kernels  # noqa: E402

__all__ = ["LossCurveDisplay", "MLPClassifier", "MLPRegressor", "TabularMLPClassifier",
           "TabularMLPRegressor", "compile_kernels", "__version__"]

# The estimators import scikit-learn, most of the time ``import fastnn``
# takes; they are imported on first access, so that what needs only the
# kernels (the workers compiling them in the background) starts sooner.
_ESTIMATORS = {"MLPClassifier": "_mlp", "MLPRegressor": "_mlp",
               "TabularMLPClassifier": "_tabular", "TabularMLPRegressor": "_tabular",
               "LossCurveDisplay": "_plotting"}

if TYPE_CHECKING:
    from ._mlp import MLPClassifier, MLPRegressor
    from ._plotting import LossCurveDisplay
    from ._tabular import TabularMLPClassifier, TabularMLPRegressor


def __getattr__(name):
    if name in _ESTIMATORS:
        import importlib

        return getattr(importlib.import_module(f".{_ESTIMATORS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__all__})
