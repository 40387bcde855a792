"""ONNX export of fastnn's estimators, through skl2onnx.

Importing this module registers ``fastnn.MLPClassifier`` and
``fastnn.MLPRegressor`` with skl2onnx (``register``), so that
``skl2onnx.to_onnx`` converts them, alone or inside a ``Pipeline`` or
``ColumnTransformer``, like scikit-learn's own estimators::

    import fastnn.onnx  # noqa: F401 (registers the converters)
    from skl2onnx import to_onnx

    onx = to_onnx(pipeline, X[:1].astype(np.float32))

It needs the ``onnx`` extra (``pip install fastnn[onnx]``: skl2onnx, onnx
and onnxruntime).

The graph is written here from ``coefs_`` and ``intercepts_`` (skl2onnx's
converters for scikit-learn's MLPs know neither fastnn's activations nor
its Poisson output, and flatten several regression outputs into one
column).  Every activation of ``fastnn._activations.REGISTRY`` has its
ONNX form in ``ACTIVATIONS``, composed of ONNX operators with the
constants of fastnn's kernels, in the model's dtype; onnxruntime runs
them all in float and double (gelu's ``Erf`` in float only, so a float64
gelu network is within about 1e-7 of fastnn's, not 1e-15).

The network runs in the model's dtype (``dtype``), as ``predict`` does: the
input is cast to it, and the outputs to the type skl2onnx gives the
input's (double for double input, otherwise float).  The outputs are
those of skl2onnx's converters:

* classifier: the label (int64 for numeric and boolean classes, string
  otherwise; for a multilabel target the 0/1 indicator matrix,
  ``(n, n_classes)``) and the probabilities, ``(n, n_classes)``, as
  ``predict_proba``; the options ``zipmap`` (default True: a list of
  dicts of probabilities), ``nocl`` and ``output_class_labels`` as for
  scikit-learn's classifiers.  As for those, double input needs
  ``options={"zipmap": False}``: ONNX's ZipMap takes float only;
* regressor: the predictions, ``(n, n_outputs)`` (``(n, 1)`` for one
  output, as skl2onnx's regressors).

``TabularMLPClassifier`` and ``TabularMLPRegressor`` are not exported:
their table encoding and front layer have no ONNX form; converting one
raises a TypeError.
"""

import numpy as np
from onnx import TensorProto
from onnx.helper import np_dtype_to_tensor_dtype
from skl2onnx import update_registered_converter, update_registered_parser
from skl2onnx.common.data_types import (
    BooleanTensorType,
    DoubleTensorType,
    FloatTensorType,
    Int64TensorType,
    StringTensorType,
    guess_proto_type,
    guess_tensor_type,
)
from skl2onnx.common.utils import check_input_and_output_numbers, check_input_and_output_types
from skl2onnx.common.utils_classifier import get_label_classes

from ._activations import (
    _INV_SQRT2,
    ELU_ALPHA,
    LEAKY_SLOPE,
    SELU_ALPHA,
    SELU_SCALE,
    SOFTPLUS_THRESHOLD,
)
from ._mlp import MLPClassifier, MLPRegressor
from ._tabular import TabularMLPClassifier, TabularMLPRegressor

__all__ = ["ACTIVATIONS", "register"]

_INPUT_TYPES = [FloatTensorType, DoubleTensorType, Int64TensorType, BooleanTensorType]


class _Graph:
    """Adds nodes, and constants of the model's dtype, to skl2onnx's container."""

    def __init__(self, scope, container, dtype):
        self.scope = scope
        self.container = container
        self.dtype = np.dtype(dtype)
        self.proto = np_dtype_to_tensor_dtype(self.dtype)
        self._scalars = {}

    def const(self, value, name="const"):
        """The name of an initializer holding ``value`` in the model's dtype
        (scalars are made once per graph)."""
        key = value if np.isscalar(value) else None
        if key in self._scalars:
            return self._scalars[key]
        value = np.asarray(value, dtype=self.dtype)
        out = self.scope.get_unique_variable_name(name)
        self.container.add_initializer(out, self.proto, value.shape, value.ravel())
        if key is not None:
            self._scalars[key] = out
        return out

    def __call__(self, op_type, *inputs, out=None, **attrs):
        """Add node ``op_type`` on ``inputs``; returns its output's name
        (``out``, or a new name)."""
        out = out or self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(op_type, list(inputs), out,
                                name=self.scope.get_unique_operator_name(op_type), **attrs)
        return out

    def input(self, variable):
        """The name of skl2onnx's input ``variable``, cast to the model's dtype."""
        x = variable.full_name
        if guess_proto_type(variable.type) == self.proto:
            return x
        return self("Cast", x, to=self.proto)

    def output(self, x, variable):
        """Write ``x`` (model's dtype) to skl2onnx's output ``variable``, cast to its type."""
        to = guess_proto_type(variable.type)
        if to == self.proto:
            self("Identity", x, out=variable.full_name)
        else:
            self("Cast", x, out=variable.full_name, to=to)


def _softplus(g, x):
    # max(x, 0) + log(1 + exp(-|x|)), exp never overflowing; x itself above
    # the threshold, as fastnn's kernels (and PyTorch).  Composed, not ONNX's
    # Softplus: onnxruntime has no double Softplus.
    soft = g("Add", g("Max", x, g.const(0.0)),
             g("Log", g("Add", g.const(1.0), g("Exp", g("Neg", g("Abs", x))))))
    return g("Where", g("Greater", x, g.const(SOFTPLUS_THRESHOLD)), x, soft)


def _erf(g, x):
    # onnxruntime has Erf for float only: a double graph computes it in float
    # (within 1e-7 of the double erf)
    if g.proto == TensorProto.FLOAT:
        return g("Erf", x)
    return g("Cast", g("Erf", g("Cast", x, to=TensorProto.FLOAT)), to=g.proto)


def _elu(alpha, scale):
    def build(g, x):
        # scale * (max(x, 0) + alpha * (exp(min(x, 0)) - 1)), as the kernels
        # compute it: exp never overflows
        zero = g.const(0.0)
        y = g("Add", g("Max", x, zero),
              g("Mul", g.const(alpha), g("Sub", g("Exp", g("Min", x, zero)), g.const(1.0))))
        return y if scale == 1 else g("Mul", g.const(scale), y)
    return build


#: activation name -> ``build(graph, x)``, the name of ``f(x)`` in the graph;
#: an entry for every name of ``fastnn._activations.REGISTRY``.
ACTIVATIONS = {
    "identity": lambda g, x: x,
    "logistic": lambda g, x: g("Sigmoid", x),
    "tanh": lambda g, x: g("Tanh", x),
    "relu": lambda g, x: g("Relu", x),
    "softmax": lambda g, x: g("Softmax", x, axis=1),
    "exp": lambda g, x: g("Exp", x),
    # max(x, slope x) is x for x > 0 and slope x otherwise: the kernels' branch
    "leaky_relu": lambda g, x: g("Max", x, g("Mul", x, g.const(LEAKY_SLOPE))),
    "elu": _elu(ELU_ALPHA, 1.0),
    "selu": _elu(SELU_ALPHA, SELU_SCALE),
    "gelu": lambda g, x: g("Mul", g("Mul", g.const(0.5), x),
                           g("Add", g.const(1.0), _erf(g, g("Mul", x, g.const(_INV_SQRT2))))),
    "silu": lambda g, x: g("Mul", x, g("Sigmoid", x)),
    "mish": lambda g, x: g("Mul", x, g("Tanh", _softplus(g, x))),
    "softplus": _softplus,
}


def _network(g, model, x):
    """The name of the network's output (output activation applied) for input ``x``."""
    hidden = model._hidden_activations(len(model.coefs_) - 1)
    for coef, intercept, activation in zip(model.coefs_, model.intercepts_,
                                           [*hidden, model.out_activation_]):
        z = g("Gemm", x, g.const(coef, "coefficient"), g.const(intercept, "intercepts"))
        x = ACTIVATIONS[activation](g, z)
    return x


def _is_multilabel(model):
    return model._label_binarizer.y_type_ == "multilabel-indicator"


def _classes(scope, model):
    """The class labels as the graph holds them, int64 or str (``nocl``: 0, 1, ...);
    ValueError for a classifier fitted on one class."""
    classes = np.asarray(get_label_classes(scope, model))
    if len(model.classes_) < 2:
        raise ValueError(f"{type(model).__name__} fitted on the single class"
                         f" {model.classes_[0]!r} cannot be exported to ONNX.")
    # float labels are integral (scikit-learn's classifiers refuse others):
    # int64, as skl2onnx makes them
    return classes.astype(np.int64 if classes.dtype.kind in "biuf" else str)


def _classifier_shape(operator):
    """Output types: the labels (int64 or string; ``(n, n_classes)`` for
    multilabel targets, else ``(n,)``) and the probabilities."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    check_input_and_output_types(operator, good_input_types=_INPUT_TYPES)
    model = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    k = len(model.classes_)
    label_type = (Int64TensorType if _classes(operator.scope_inst, model).dtype.kind == "i"
                  else StringTensorType)
    operator.outputs[0].type = label_type([n, k] if _is_multilabel(model) else [n])
    operator.outputs[1].type = guess_tensor_type(operator.inputs[0].type).__class__([n, k])


def _convert_classifier(scope, operator, container):
    """Labels and probabilities, as ``predict`` and ``predict_proba``."""
    model = operator.raw_operator
    g = _Graph(scope, container, model.coefs_[0].dtype)
    proba = _network(g, model, g.input(operator.inputs[0]))
    label = operator.outputs[0].full_name
    if _is_multilabel(model):
        # one logistic output per class: the indicator of p > 0.5
        g("Cast", g("Greater", proba, g.const(0.5)), out=label, to=TensorProto.INT64)
    else:
        if model.n_outputs_ == 1:  # binary: the columns 1 - p and p
            proba = g("Concat", g("Sub", g.const(1.0), proba), proba, axis=1)
        # the first column of the largest probability, as np.argmax; for two
        # classes, the second exactly when p > 0.5 (1 - p is exact for p >= 0.5)
        classes = _classes(scope, model)
        table = scope.get_unique_variable_name("classes")
        if classes.dtype.kind == "i":
            container.add_initializer(table, TensorProto.INT64, classes.shape, classes)
        else:
            container.add_initializer(table, TensorProto.STRING, classes.shape,
                                      [c.encode("utf-8") for c in classes])
        g("Gather", table, g("ArgMax", proba, axis=1, keepdims=0), out=label)
    g.output(proba, operator.outputs[1])


def _regressor_shape(operator):
    """Output type: the predictions, ``(n, n_outputs)``."""
    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    check_input_and_output_types(operator, good_input_types=_INPUT_TYPES)
    n = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = guess_tensor_type(operator.inputs[0].type).__class__(
        [n, operator.raw_operator.n_outputs_])


def _convert_regressor(scope, operator, container):
    """The predictions, as ``predict`` (two-dimensional)."""
    model = operator.raw_operator
    g = _Graph(scope, container, model.coefs_[0].dtype)
    g.output(_network(g, model, g.input(operator.inputs[0])), operator.outputs[0])


def _refuse(scope, model, inputs, custom_parsers=None):
    raise TypeError(f"{type(model).__name__} cannot be exported to ONNX: its table encoding"
                    " and front layer have no ONNX converter. Export an MLPClassifier or"
                    " MLPRegressor (in a pipeline with skl2onnx's encoders) instead.")


def register():
    """Register fastnn's estimators with skl2onnx.

    Called when ``fastnn.onnx`` is imported; calling it again does no harm.
    Afterwards ``skl2onnx.to_onnx`` converts ``MLPClassifier`` (options
    ``zipmap``, ``nocl`` and ``output_class_labels``, as for scikit-learn's
    classifiers) and ``MLPRegressor``, alone or in pipelines, and raises a
    TypeError for ``TabularMLPClassifier`` and ``TabularMLPRegressor``.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as ort
    >>> from skl2onnx import to_onnx
    >>> from fastnn import MLPClassifier
    >>> from fastnn.onnx import register
    >>> register()
    >>> X = np.random.RandomState(0).normal(size=(40, 3)).astype(np.float32)
    >>> clf = MLPClassifier((5,), max_iter=500, random_state=0).fit(X, X[:, 0] > 0)
    >>> onx = to_onnx(clf, X[:1], options={"zipmap": False})
    >>> sess = ort.InferenceSession(onx.SerializeToString(),
    ...                             providers=["CPUExecutionProvider"])
    >>> label, proba = sess.run(None, {"X": X})
    >>> bool(np.abs(proba - clf.predict_proba(X)).max() < 1e-5)
    True
    """
    update_registered_converter(
        MLPClassifier, "FastnnMLPClassifier", _classifier_shape, _convert_classifier,
        options={"zipmap": [True, False, "columns"], "nocl": [False, True],
                 "output_class_labels": [False, True]},
    )
    update_registered_converter(MLPRegressor, "FastnnMLPRegressor", _regressor_shape,
                                _convert_regressor)
    for tabular in (TabularMLPClassifier, TabularMLPRegressor):
        update_registered_parser(tabular, _refuse)


register()
