"""The estimators' shared machinery, by concern: parameters, input, and the fitted network.

``BaseMultilayerPerceptron`` (``_mlp``) combines these mixins with the
fitting and prediction logic:

* ``ParametersMixin``: the parameter table and what is derived from the
  parameters alone (per-layer settings, the optimizer, the batch size);
* ``InputsMixin``: the validation of ``X``, sample weights and validation
  data, with fast paths for plain arrays;
* ``NetworkMixin``: the fitted ``Network`` behind ``coefs_`` and
  ``intercepts_``, the network a fit trains, and pickling.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from . import __version__, _engine
from ._packed import has_bf16
from ._activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from ._init import REGISTRY as INITIALIZERS
from ._network import Network
from ._noise import REGISTRY as DROPOUT_KINDS
from ._optimizers import REGISTRY as OPTIMIZERS
from ._optimizers import Optimizer
from ._schedules import REGISTRY as SCHEDULES
from ._validation import (
    Boolean,
    Callable,
    Each,
    Interval,
    LayerSizes,
    NJobs,
    Options,
    Precision,
    RandomState,
    Text,
)

# Inputs of at most this many rows skip scikit-learn's generic validation.
_FAST_PREDICT_ROWS = 16

# The fitted objects a model's state holds as dicts (``NetworkMixin.__getstate__``).
_PARTS = {"_net": Network, "_optimizer": Optimizer, "_log": _engine.TrainingLog}


def _plain_matrix(X, dtype):
    """Whether ``X`` is a non-empty C-contiguous 2-D ndarray of ``dtype``: an
    array ``validate_data`` would not convert."""
    return (type(X) is np.ndarray and X.ndim == 2 and X.dtype == dtype
            and X.flags.c_contiguous and X.shape[0] > 0 and X.shape[1] > 0)


class InconsistentVersionWarning(UserWarning):
    """A model pickled by one version of fastnn was loaded by another.

    Like scikit-learn's warning of the same name, for fastnn's own version
    (scikit-learn still warns about its version separately).
    """

    def __init__(self, *, estimator_name, current_version, original_version):
        self.estimator_name = estimator_name
        self.current_version = current_version
        self.original_version = original_version

    def __str__(self):
        original = self.original_version or "an unknown version"
        return (
            f"Trying to unpickle estimator {self.estimator_name} from fastnn {original}"
            f" when using fastnn {self.current_version}. This might lead to breaking"
            " code or invalid results. Use at your own risk."
        )



def layer_sizes(sizes):
    """The hidden layers' sizes as a list of ints, from ``hidden_layer_sizes``
    (an int or a sequence of ints)."""
    if not hasattr(sizes, "__iter__"):
        sizes = [sizes]
    return [int(s) for s in sizes]


class ParametersMixin:
    """The parameter table, and what the parameters alone decide."""

    _parameter_constraints = {
        "hidden_layer_sizes": [LayerSizes()],
        "activation": [Options(*HIDDEN_ACTIVATIONS), Each(Options(*HIDDEN_ACTIVATIONS))],
        "solver": [Options("lbfgs", *OPTIMIZERS)],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Options("auto"), Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Options(*SCHEDULES)],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "shuffle": [Boolean()],
        "random_state": [RandomState()],
        "tol": [Interval(Real, 0, None, closed="left")],
        "verbose": [Boolean(), Interval(Integral, 0, None, closed="left")],
        "warm_start": [Boolean()],
        "momentum": [Interval(Real, 0, 1, closed="both")],
        "nesterovs_momentum": [Boolean()],
        "early_stopping": [Boolean()],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "beta_1": [Interval(Real, 0, 1, closed="left")],
        "beta_2": [Interval(Real, 0, 1, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left"), Options(np.inf)],
        "max_fun": [Interval(Integral, 1, None, closed="left")],
        "dtype": [Precision()],
        "n_jobs": [NJobs()],
        "weight_init": [Options(*INITIALIZERS)],
        "dropout": [Interval(Real, 0, 1, closed="left"),
                    Each(Interval(Real, 0, 1, closed="left"))],
        "dropout_kind": [Options(*DROPOUT_KINDS)],
        "rho": [Interval(Real, 0, 1, closed="both")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "clip_norm": [Options(None), Interval(Real, 0, None, closed="neither")],
        "clip_value": [Options(None), Interval(Real, 0, None, closed="neither")],
        "scoring": [Options(None), Text(), Callable()],
        "max_time": [Options(None), Interval(Real, 0, None, closed="neither")],
    }

    def _hidden_layer_sizes(self):
        return layer_sizes(self.hidden_layer_sizes)

    def _hidden_activations(self, n_hidden):
        """The activation of every hidden layer, from ``activation``."""
        return self._per_layer("activation", self.activation, n_hidden)

    def _dropout_rates(self, n_hidden):
        return self._per_layer("dropout", self.dropout, n_hidden)

    @staticmethod
    def _per_layer(name, value, n_hidden):
        if isinstance(value, (list, tuple)):
            if len(value) != n_hidden:
                raise ValueError(
                    f"{name} has {len(value)} entries for {n_hidden} hidden layers; give one"
                    " per hidden layer, or a single value for all."
                )
            return list(value)
        return [value] * n_hidden

    def _check_settings(self):
        """Checks across parameters, beyond each parameter's own table, and
        that this CPU can train with bfloat16 products if asked to."""
        if self._bf16:
            if self.solver == "lbfgs":
                raise ValueError("dtype='bfloat16' needs a stochastic solver; solver='lbfgs'"
                                 " trains in float32 or float64.")
            if not has_bf16():
                raise ValueError("dtype='bfloat16' needs a CPU with the AVX512_BF16"
                                 " instructions, which this one lacks; use dtype='float32'.")
        if self.solver == "lbfgs":
            if np.any(np.asarray(self.dropout) > 0):
                raise ValueError("dropout needs a stochastic solver; solver='lbfgs' has none"
                                 " (its loss must be the same at every evaluation).")

    @property
    def _bf16(self):
        """Whether the products of training are bfloat16 (``dtype="bfloat16"``)."""
        return isinstance(self.dtype, str) and self.dtype == "bfloat16"

    def _weights_dtype(self):
        """The dtype of the weights and of every computation but bfloat16 products."""
        return np.dtype(np.float32 if self._bf16 else self.dtype)

    def _packed_products(self, net):
        """The products of stochastic training of ``net`` (``packed`` of
        ``_engine.load_training_kernel``): 2, bfloat16; 1, fastnn's float32
        kernels (``_engine.packed_float32``); None, BLAS."""
        if self._bf16:
            return 2
        if net.theta.dtype == np.float32:
            return _engine.packed_float32()
        return None

    def _make_optimizer(self, n_params, dtype, total_steps):
        return Optimizer(
            self.solver, n_params, dtype, learning_rate_init=self.learning_rate_init,
            learning_rate=self.learning_rate, power_t=self.power_t, momentum=self.momentum,
            nesterov=self.nesterovs_momentum, beta_1=self.beta_1, beta_2=self.beta_2,
            epsilon=self.epsilon, rho=self.rho, weight_decay=self.weight_decay,
            clip_value=self.clip_value, clip_norm=self.clip_norm, total_steps=total_steps,
        )

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is"
                " going to be clipped"
            )
        return min(max(int(self.batch_size), 1), n_samples)


class InputsMixin:
    """Validation of the input, sample weights and validation data."""

    def _validate_plain(self, X, y, reset, dtype, check_finite=True):
        """``validate_data(self, X, y, ...)`` for plain arrays, at a fifth of its cost.

        A C-contiguous ndarray ``X`` of the training dtype and a 1-D ndarray
        ``y`` of bools, integers or floats (or no ``y``: prediction) need no
        conversion.  What remains to check is that both are finite and of one
        length, and the feature names and count, which ``validate_data``
        checks without its array machinery (40k x 20 float32: ~0.07 against
        ~0.37 ms, paid by every ``partial_fit``).  Any other input, or one
        that fails a check, returns None: ``validate_data`` then raises its
        own error.  ``check_finite=False`` leaves ``X``'s check for NaN and
        infinity to the caller (``_fit``'s deferred check).
        """
        if not _plain_matrix(X, dtype):
            return None
        if y is None:
            targets = ()
        elif (type(y) is np.ndarray and y.ndim == 1 and y.dtype.kind in "biuf"
                and y.shape[0] == X.shape[0]
                and (y.dtype.kind != "f" or np.isfinite(y).all())):
            targets = (y,)
        else:
            return None
        if check_finite and not _engine.all_finite(X, self.n_jobs):
            return None
        if (not reset and getattr(self, "n_features_in_", None) == X.shape[1]
                and not hasattr(self, "feature_names_in_")):
            # validate_data's remaining checks, which an ndarray of the fitted
            # width passes when the fit had no feature names
            return (X, *targets) if targets else X
        return validate_data(self, X, *targets, skip_check_array=True, reset=reset)

    def _check_sample_weight(self, sample_weight, n_samples, dtype):
        if sample_weight is None:
            return None
        sw = np.asarray(sample_weight)
        if sw.ndim == 0:
            sw = np.full(n_samples, sw)
        if sw.ndim != 1 or sw.shape[0] != n_samples:
            raise ValueError(
                f"sample_weight.shape == {sw.shape}, expected ({n_samples},)!"
            )
        if not np.issubdtype(sw.dtype, np.number) or np.iscomplexobj(sw):
            raise TypeError(f"sample_weight must be real numbers, got dtype {sw.dtype}.")
        sw = sw.astype(dtype)
        if not np.all(np.isfinite(sw)):
            raise ValueError("sample_weight contains NaN or infinity.")
        if np.any(sw < 0):
            raise ValueError("Negative values in sample_weight are not allowed.")
        if sw.sum() <= 0:
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return sw

    def _validation_set(self, X_val, y_val, sample_weight_val, n_outputs, dtype):
        """``(X, y, Y, sample_weight)`` of user-given validation data: the
        input, the targets as given and as the network's outputs."""
        if X_val is None or y_val is None:
            raise ValueError("X_val and y_val must be given together.")
        plain = self._validate_plain(X_val, None, False, dtype)
        X_val = plain if plain is not None else validate_data(
            self, X_val, accept_sparse=["csr", "csc"], reset=False, dtype=dtype, order="C",
        )
        y_val = np.asarray(y_val)
        if y_val.ndim == 2 and y_val.shape[1] == 1:
            y_val = y_val.ravel()
        if y_val.shape[0] != X_val.shape[0]:
            raise ValueError(f"X_val has {X_val.shape[0]} samples but y_val has"
                             f" {y_val.shape[0]}.")
        Y_val = self._validation_targets(y_val, dtype).reshape(len(y_val), -1)
        if Y_val.shape[1] != n_outputs:
            raise ValueError(f"y_val has {Y_val.shape[1]} outputs; y has {n_outputs}.")
        sw = self._check_sample_weight(sample_weight_val, X_val.shape[0], dtype)
        return X_val, y_val, Y_val, sw

    def _few_plain_rows(self, X):
        return (
            type(X) is np.ndarray
            and X.ndim == 2
            and 0 < X.shape[0] <= _FAST_PREDICT_ROWS
            and X.shape[1] == self.n_features_in_
            and X.dtype in (np.float32, np.float64)
            and not hasattr(self, "feature_names_in_")
        )


class NetworkMixin:
    """The fitted network behind ``coefs_`` and ``intercepts_``, and pickling."""

    def _network(self, dtype=None):
        """The fitted ``Network``; ``coefs_`` and ``intercepts_`` are views into it.

        When those attributes were replaced by other arrays (or ``dtype``
        asks for another precision) a new network is packed from them.
        """
        net = getattr(self, "_net", None)
        dtype = self.coefs_[0].dtype if dtype is None else np.dtype(dtype)
        if net is not None and net.theta.dtype == dtype and self._views_of(net.theta):
            return net
        sizes = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        front = None if net is None else net.front
        new = Network(sizes, self._hidden_activations(len(sizes) - 2), self.out_activation_,
                      dtype, front=front)
        new.set_params(self.coefs_, self.intercepts_)
        if front is not None:
            new.front_params[:] = net.front_params
        return new

    def _views_of(self, theta):
        return all(a.base is theta for a in (*self.coefs_, *self.intercepts_))

    def _store_network(self, net):
        self._net = net
        self.coefs_ = net.coefs
        self.intercepts_ = net.intercepts

    def __sklearn_is_fitted__(self):
        return hasattr(self, "coefs_")

    def _check_is_fitted(self):
        """``check_is_fitted(self)``, run only when the estimator is not fitted.

        It costs ~2 us, as much as the network of a one-row prediction, to
        reach the same answer as ``__sklearn_is_fitted__``; its error (and
        message) is still the one an unfitted estimator gets.
        """
        if not self.__sklearn_is_fitted__():
            check_is_fitted(self)

    def __getstate__(self):
        """The attributes, with the network, the optimizer and the training log
        as dicts of plain values and arrays (their ``to_dict``): a state of
        builtins, NumPy arrays and scikit-learn objects, which skops loads
        trusting the estimator's class alone."""
        state = dict(super().__getstate__())
        state.pop("_runner", None)  # partial_fit's workspaces (``_fit_stochastic``)
        net = state.get("_net")
        if net is not None and self._views_of(net.theta):
            # Stored once, in the flat vector; the views are rebuilt on load.
            del state["coefs_"], state["intercepts_"]
        for name, part in _PARTS.items():
            if isinstance(state.get(name), part):
                state[name] = state[name].to_dict()
        state["_fastnn_version"] = __version__
        return state

    def __setstate__(self, state):
        """Restore ``__getstate__``'s state (or an older version's, whose parts
        are the objects themselves).

        Raises
        ------
        ValueError
            When the state does not describe a model: the parts' own checks,
            and the network must take as many columns as the fit's input.
        """
        state = dict(state)
        version = state.pop("_fastnn_version", None)
        if version != __version__:
            warnings.warn(InconsistentVersionWarning(
                estimator_name=type(self).__name__, current_version=__version__,
                original_version=version,
            ))
        for name, part in _PARTS.items():
            if isinstance(state.get(name), dict):
                state[name] = part.from_dict(state[name])
        super().__setstate__(state)
        if state.get("_net") is not None:  # (None in a copy made during a first fit)
            if "coefs_" not in state:
                self.coefs_ = self._net.coefs
                self.intercepts_ = self._net.intercepts
            self._check_inputs_of(self._net)

    def _check_inputs_of(self, net):
        """Raise a ValueError unless ``net`` takes ``n_features_in_`` columns: the
        kernels read an input row by the network's sizes, without bounds checks,
        after the input was checked against ``n_features_in_``."""
        n_inputs = net.sizes[0] if net.front is None else net.front.n_inputs
        if getattr(self, "n_features_in_", None) != n_inputs:
            raise ValueError(f"The network takes {n_inputs} columns; the model was fitted on"
                             f" {getattr(self, 'n_features_in_', None)}.")

    def _training_network(self, dtype):
        """The network to train: the fitted one, with this fit's activations and
        dropout (a new network when they differ from the fitted one's)."""
        net = self._network(dtype)
        n_hidden = len(net.sizes) - 2
        activations = self._hidden_activations(n_hidden)
        rates = self._dropout_rates(n_hidden)
        seed = 0
        if any(r > 0 for r in rates):
            # the key of the dropout masks, drawn only when there is dropout
            # (so that draws without it stay scikit-learn's)
            seed = int(self._random_state.randint(np.iinfo(np.int32).max))
        if (net.theta.flags.writeable and net.seed == seed
                and net.dropout_kind == DROPOUT_KINDS[self.dropout_kind]
                and list(net.drop[:-1]) == rates
                and list(net.acts[:-1]) == [ACTIVATIONS[a] for a in activations]):
            return net  # (as a partial_fit after another finds it: no new spec)
        trained = Network(net.sizes, activations, self.out_activation_, dtype, rates,
                          self.dropout_kind, seed, net.front)
        trained.theta[:] = net.theta
        return trained
