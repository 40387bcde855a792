"""TabularMLPClassifier and TabularMLPRegressor: MLPs for raw tables.

They take a table as it comes (a pandas or polars DataFrame, or an array;
categorical columns found from their dtype; missing values allowed;
categories not seen in training allowed), encode it (``_table``), and train
an MLP of the training toolbox on it with a recipe for tabular data: a
front layer that scales every column and embeds every numeric one and
every categorical one of many values (``_embeddings``), a wide three-layer
network, AdamW with a short warm-up and a cosine decay, dropout and label
smoothing for classification, a standardised target for regression, and
the best epoch on a held-out part of the training rows.  Each network is an
``MLPClassifier`` / ``MLPRegressor`` with that front layer; ``n_networks`` of
them, trained concurrently, average their predictions (``networks_``).
"""

import contextlib
import itertools
import math
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._base import ParametersMixin, layer_sizes
from ._callbacks import CONTEXT_ATTRIBUTES, CallbackSupportMixin, fit_of_parts, with_callbacks
from ._engine import resolve_n_jobs
from ._mlp import MLPClassifier, MLPRegressor
from ._network import Front
from ._table import TableEncoder
from ._packed import has_bf16
from ._validation import Boolean, Interval, LayerSizes, Options, Precision, validate_params

# The network's settings the two estimators share; each one is a parameter
# of the estimator under the same name and passed on to the networks.
_NETWORK_PARAMETERS = (
    "hidden_layer_sizes", "activation", "dropout", "solver", "learning_rate",
    "learning_rate_init", "beta_2", "weight_decay", "batch_size", "max_iter",
    "validation_fraction", "n_iter_no_change", "max_time", "random_state", "n_jobs",
    "dtype", "verbose",
)


# ``max_iter="auto"``: this many epochs, or more on small problems, up to
# AUTO_EPOCHS_MAX, so that the training does at least AUTO_FLOPS floating-point
# operations.  Small tables need more optimizer steps than 30 epochs take, and
# their epochs cost little.
AUTO_EPOCHS = 30
AUTO_EPOCHS_MAX = 100
AUTO_FLOPS = 1e11


def _dense_weights(widths):
    """Weights of dense layers of ``widths`` units (inputs first)."""
    return sum(a * b for a, b in itertools.pairwise(widths))


def _epoch_flops(n_train, widths, copies):
    """Floating-point operations of an epoch on ``n_train`` training rows, for
    dense layers of ``widths`` units (inputs first, to the last hidden layer)
    carrying ``copies`` copies of every row: 6 per weight of those layers and
    per row (a multiply-add forward, two backward).  The output layer, the
    front layer and the optimizer are left out of the count."""
    return 6.0 * copies * n_train * _dense_weights(widths)


def auto_epochs(n_train, widths, copies=1):
    """The epochs of ``max_iter="auto"`` on ``n_train`` training rows, for
    dense layers of ``widths`` units (inputs first, to the last hidden layer)
    carrying ``copies`` copies of every row (``_epoch_flops``)."""
    epochs = math.ceil(AUTO_FLOPS / max(_epoch_flops(n_train, widths, copies), 1.0))
    return int(min(max(epochs, AUTO_EPOCHS), AUTO_EPOCHS_MAX))


# ``n_networks="auto"``: AUTO_NETWORKS networks, or one where a network's
# dense layers have more than AUTO_NETWORKS_MAX_WEIGHTS weights (a first
# layer of more than 512 inputs, in the default network) or its training
# more than AUTO_NETWORKS_MAX_FLOPS floating-point operations (counted as
# ``auto_epochs`` does).  A one-row prediction reads every weight of every
# network: two large networks outgrow a core's 2 MB cache, and their weights
# then come from memory.  A second network gains most on small tables, where
# one network's fit varies most and costs least; on large ones it would
# double a fit of seconds for little.
AUTO_NETWORKS = 2
AUTO_NETWORKS_MAX_WEIGHTS = 2**18
AUTO_NETWORKS_MAX_FLOPS = 1e12


def auto_networks(widths, n_train, epochs, copies=1):
    """The networks of ``n_networks="auto"``, for dense layers of ``widths``
    units (inputs first, to the last hidden layer) trained ``epochs`` epochs
    on ``n_train`` rows, carrying ``copies`` copies of every row."""
    flops = _epoch_flops(n_train, widths, copies) * epochs
    small = (_dense_weights(widths) <= AUTO_NETWORKS_MAX_WEIGHTS
             and flops <= AUTO_NETWORKS_MAX_FLOPS)
    return AUTO_NETWORKS if small else 1


def _train_concurrently(train, fit_of_part, n_workers, stop):
    """Run ``train(fit_of_part)`` on ``n_workers`` threads and wait for them all.

    Ctrl-C, which only the calling thread receives, sets ``stop``: the fits
    end after their current epoch, and a warning says so.  An error in one
    thread sets it too, and is raised once every thread has returned.
    """
    errors, interrupted = [], False
    with ThreadPoolExecutor(n_workers, thread_name_prefix="fastnn-network") as pool:
        for future in [pool.submit(train, fit_of_part) for _ in range(n_workers)]:
            while True:
                try:
                    error = future.exception()
                    break
                except KeyboardInterrupt:
                    interrupted = True
                    stop.set()
            if error is not None:
                stop.set()
                errors.append(error)
    if errors:
        raise errors[0]
    if interrupted:
        warnings.warn("Training interrupted by user.")


def _table_dtype(precision):
    """The encoded table's dtype for a network of ``precision``."""
    return "float32" if isinstance(precision, str) and precision == "bfloat16" else precision


class _FrontMixin:
    """An MLP whose network starts with the front layer ``front`` (set on the
    instance before its fit; ``_embeddings``), and whose fit ends after the
    epoch in which the ``threading.Event`` ``stop``, if set on the instance,
    is set."""

    front = None
    stop = None

    def _epoch_end_hook(self, tasks):
        hook, stop = super()._epoch_end_hook(tasks), self.stop
        if stop is None:
            return hook
        if hook is None:
            return lambda log: stop.is_set()
        return lambda log: hook(log) or stop.is_set()

    def _front_layer(self, n_features):
        if self.front is not None and self.front.n_inputs != n_features:
            raise ValueError(f"The front layer takes {self.front.n_inputs} columns; X has"
                             f" {n_features}.")
        return self.front

    def __getstate__(self):
        """The MLP's state, with the front layer as a dict (``Front.to_dict``)."""
        state = super().__getstate__()
        if isinstance(state.get("front"), Front):
            state["front"] = state["front"].to_dict()
        return state

    def __setstate__(self, state):
        """Restore ``__getstate__``'s state (an older version's holds the ``Front``)."""
        if isinstance(state.get("front"), dict):
            state = {**state, "front": Front.from_dict(state["front"])}
        super().__setstate__(state)


class _FrontMLPClassifier(_FrontMixin, MLPClassifier):
    pass


class _FrontMLPRegressor(_FrontMixin, MLPRegressor):
    pass


class _TabularMLP(CallbackSupportMixin, BaseEstimator):
    """What the two tabular estimators share; use a subclass."""

    _parameter_constraints = {
        # the network's parameters that the estimator itself uses, as the
        # networks check them (their other parameters are checked in their fit)
        **{name: ParametersMixin._parameter_constraints[name]
           for name in ("n_jobs", "max_time", "random_state", "validation_fraction")},
        "hidden_layer_sizes": [LayerSizes()],
        "max_iter": [Options("auto"), Interval(Integral, 1, None, closed="left")],
        "max_categories": [Interval(Integral, 2, None, closed="left")],
        "n_bins": [Options("auto"), Interval(Integral, 0, None, closed="left")],
        "embedding_size": [Interval(Integral, 0, None, closed="left")],
        "n_frequencies": [Interval(Integral, 1, None, closed="left")],
        "column_scaling": [Boolean()],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "n_networks": [Options("auto"), Interval(Integral, 1, None, closed="left")],
        "early_stopping": [Boolean()],
        "dtype": [Options("auto"), Precision()],
    }

    @contextlib.contextmanager
    def _unchanged_on_error(self):
        """Restore every attribute if the block raises: a rejected ``fit``
        leaves a fitted model as it was (``validate_data`` sets the column
        names before the table is checked)."""
        saved = dict(vars(self))
        try:
            yield
        except BaseException:
            # (the open callback context stays, for its teardown)
            context = {k: v for k, v in vars(self).items() if k in CONTEXT_ATTRIBUTES}
            vars(self).clear()
            vars(self).update(saved, **context)
            raise

    def _precision(self):
        """The network's ``dtype``: "auto" is "bfloat16" on CPUs with the
        AVX512_BF16 instructions, "float32" on the others."""
        if isinstance(self.dtype, str) and self.dtype == "auto":
            return "bfloat16" if has_bf16() else "float32"
        return self.dtype

    def _widths(self, front, n_columns):
        """The widths of the dense layers of a network with the front layer
        ``front`` (or None) on ``n_columns`` encoded columns: their inputs
        first, to the last hidden layer."""
        n_inputs = n_columns if front is None else front.n_outputs
        return [n_inputs, *layer_sizes(self.hidden_layer_sizes)]

    def _n_train(self, n_rows):
        """The rows a network trains on, of ``n_rows`` (the others held out)."""
        held_out = math.ceil(n_rows * self.validation_fraction) if self.early_stopping else 0
        return n_rows - held_out

    def _model_parameters(self, n_rows, widths):
        """The network's parameters, for an encoded table of ``n_rows`` rows
        and dense layers of ``widths`` (``_widths``)."""
        params = {name: getattr(self, name) for name in _NETWORK_PARAMETERS}
        params["dtype"] = self._precision()
        n_train = self._n_train(n_rows)
        if self.batch_size == "auto":
            # 256 rows, but at least 8 batches an epoch on small tables
            params["batch_size"] = max(1, min(n_train, int(np.clip(n_train // 8, 16, 256))))
        if self.max_iter == "auto":
            params["max_iter"] = auto_epochs(n_train, widths, self.n_heads)
        # (no L2 term: the weight decay is AdamW's)
        return {**params, "early_stopping": self.early_stopping, "weight_init": "he_uniform",
                "alpha": 0.0}

    def _fit_networks(self, make, Z, y, sample_weight, given):
        """Fit ``n_networks`` networks, each made by ``make()`` (a ``_FrontMLP*``),
        to the encoded table ``Z``, as ``networks_``.

        Every network has its own seed, drawn from ``random_state``: its own
        initialisation, shuffles, dropout masks and held-out rows.  They train
        concurrently, as many at a time as ``n_jobs`` gives threads, each on
        its share of them (one after another when the estimator has
        callbacks, so that these see one fit at a time); their weights do not
        depend on ``n_jobs``.  The networks share ``max_time``: one that would
        start after it is not trained.  Ctrl-C ends every fit after its current
        epoch, and the networks keep the weights they have.  The networks'
        warning that ``max_iter`` ended the training is left out: the recipe
        trains ``max_iter`` epochs by design, its schedule ends there.

        The callbacks see the table as ``given`` (``X``, ``y``); the
        propagating ones follow the networks' fits.
        """
        networks = [make()]
        n_networks = self.n_networks
        if n_networks == "auto":
            n_networks = auto_networks(self._widths(networks[0].front, Z.shape[1]),
                                       self._n_train(Z.shape[0]), networks[0].max_iter,
                                       self.n_heads)
        networks += [make() for _ in range(n_networks - 1)]
        seeds = check_random_state(self.random_state).randint(np.iinfo(np.int32).max,
                                                              size=n_networks)
        n_threads = resolve_n_jobs(self.n_jobs)
        n_workers = 1 if getattr(self, "_skl_callbacks", None) else min(n_networks, n_threads)
        for network, seed in zip(networks, seeds):
            network.set_params(random_state=int(seed), n_jobs=n_threads // n_workers)
        deadline = None if self.max_time is None else time.perf_counter() + self.max_time
        stop, lock, queue = threading.Event(), threading.Lock(), iter(networks)
        trained = []

        def train(fit_of_part):
            """Fit the queue's networks, one after another, until it is empty or
            ``stop`` is set."""
            while not stop.is_set():
                with lock:
                    network = next(queue, None)
                    if network is None:
                        return
                    if deadline is not None:
                        left = deadline - time.perf_counter()
                        if left <= 0 and trained:
                            return
                        network.set_params(max_time=max(left, 1e-9))
                    trained.append(network)
                network.stop = stop
                try:
                    with fit_of_part(network):
                        network.fit(Z, y, sample_weight=sample_weight)
                finally:
                    del network.stop
                if network._log.stopped == "interrupted":
                    stop.set()

        with fit_of_parts(self, *given, sample_weight, n_networks, "fit-network") as fit_of_part:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=ConvergenceWarning)
                if n_workers == 1:
                    train(fit_of_part)
                else:
                    _train_concurrently(train, fit_of_part, n_workers, stop)
            # (the networks predict on every thread of the estimator's n_jobs)
            self.networks_ = [network.set_params(n_jobs=self.n_jobs) for network in trained]
            self.n_iter_ = max(network.n_iter_ for network in trained)
            if is_classifier(self):
                self.classes_ = trained[0].classes_

    def _mean_output(self, Z, binary_proba=False):
        """The networks' mean output layer for the encoded table ``Z``
        (``MLPClassifier._forward_pass_fast``)."""
        networks = self.networks_
        out = networks[0]._forward_pass_fast(Z, binary_proba)
        for network in networks[1:]:
            out += network._forward_pass_fast(Z, binary_proba)
        if len(networks) > 1:
            out /= len(networks)
        return out

    def _model(self, cls, shape, **params):
        """The network to fit on an encoded table of ``shape``: a ``cls``
        (``_FrontMLP*``) with its front layer."""
        n_rows, n_columns = shape
        n_numeric = len(self.encoder_.numeric_) if self.embedding_size else 0
        codes = tuple(self.encoder_.n_codes_)
        front = None
        if n_numeric or codes or self.column_scaling or self.n_heads > 1:
            front = Front(n_columns, n_numeric, self.n_frequencies, self.embedding_size,
                          self.column_scaling, self.n_heads, codes)
        model = cls(**self._model_parameters(n_rows, self._widths(front, n_columns)), **params)
        model.front = front
        return model

    def _encode(self, X, reset):
        """Validate ``X`` as a table and encode it (fitting the encoder if ``reset``)."""
        if hasattr(X, "columns") and hasattr(X, "shape"):
            if reset or not self._known_columns(X):  # (names checked and warned there)
                validate_data(self, X, skip_check_array=True, reset=reset)
            n_rows, n_columns = X.shape
            if n_rows == 0 or n_columns == 0:
                raise ValueError(f"Found a table of shape {X.shape}: at least 1 row and 1"
                                 " column are required.")
        else:  # arrays: scikit-learn's checks (sparse, dimensions, empty, complex)
            X = validate_data(self, X, reset=reset, dtype=None, accept_sparse=False,
                              ensure_all_finite=False)
        if reset:
            encoder = TableEncoder(max_categories=self.max_categories, n_bins=self.n_bins,
                                   embed=self.embedding_size > 0,
                                   dtype=_table_dtype(self._precision()))
            Z = encoder.fit_transform(X)
            self.encoder_ = encoder
            return Z
        return self.encoder_.transform(X)

    def _check_is_fitted(self):
        """``check_is_fitted(self)``, run only when the estimator is not fitted
        (it costs microseconds a call, a good part of a 1-row prediction's)."""
        if not hasattr(self, "networks_"):
            check_is_fitted(self)

    def _known_columns(self, X):
        """Whether the table's column names are those of the fit (then
        scikit-learn's check of them, ~70 us, is left out)."""
        names = getattr(self, "feature_names_in_", None)
        return names is not None and X.columns.tolist() == names.tolist()

    def __getstate__(self):
        """The attributes, with the encoder and the network as dicts of plain
        values and arrays (``TableEncoder.to_dict``, the network's own
        ``__getstate__``): a state skops loads trusting the estimator's class
        alone."""
        state = dict(super().__getstate__())
        if isinstance(state.get("encoder_"), TableEncoder):
            state["encoder_"] = state["encoder_"].to_dict()
        if "networks_" in state:
            state["networks_"] = [network.__getstate__() for network in state["networks_"]]
        return state

    def __setstate__(self, state):
        """Restore ``__getstate__``'s state (or an older version's, whose encoder
        and network are the objects themselves)."""
        state = dict(state)
        if isinstance(state.get("encoder_"), dict):
            state["encoder_"] = TableEncoder.from_dict(state["encoder_"])
        if "model_" in state:  # a version of one network
            state["networks_"] = [state.pop("model_")]
        if "networks_" in state:
            state["networks_"] = [self._network_from_state(network)
                                  for network in state["networks_"]]
        super().__setstate__(state)

    def _network_from_state(self, state):
        """A network from its ``__getstate__`` (or the network itself)."""
        if not isinstance(state, dict):
            return state
        network = self._network_class.__new__(self._network_class)
        network.__setstate__(state)
        return network

    def _check_target(self, y, X):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y"
                             " is None.")
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {y.shape[0]}.")
        return y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.input_tags.sparse = False
        return tags


class TabularMLPClassifier(ClassifierMixin, _TabularMLP):
    """Multilayer perceptron classifier for raw tables.

    Categorical columns (pandas ``category``, object, string and bool
    dtypes) of at most ``max_categories`` values are one-hot encoded,
    numeric columns scaled robustly and clipped smoothly, missing values
    encoded with indicator columns; then a network of a front layer (a
    learned scale for every encoded column, a learned periodic embedding for
    every numeric one, a learned embedding for every categorical one of more
    values) and three dense layers is trained with dropout, AdamW and a
    one-cycle learning-rate schedule, on all but ``validation_fraction`` of
    the rows, keeping the epoch that scores best on those.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(256, 256, 256)
        Units per hidden layer.
    activation : str or list of str, default="silu"
        Hidden activation (any of ``MLPClassifier``'s).
    dropout : float, default=0.15
        Dropout rate of every hidden layer.
    solver : str, default="adamw"
        Optimizer (any stochastic solver of ``MLPClassifier``).
    learning_rate : str, default="onecycle"
        Learning-rate schedule.
    learning_rate_init : float, default=0.002
        Peak learning rate.
    beta_2 : float, default=0.95
        Adam's second-moment decay.
    weight_decay : float, default=0.02
        Decoupled weight decay (adamw); the loss has no L2 term.
    label_smoothing : float, default=0.1
        Label smoothing of the log-loss.
    batch_size : int or "auto", default="auto"
        Rows per mini-batch; "auto": 256, or fewer where the rows the
        network trains on (those not held out) are fewer than 2,048, so that
        an epoch has at least 8 batches (and a batch at least 16 rows).
    max_iter : int or "auto", default="auto"
        Epochs.  "auto": 30, or more, up to 100, where 30 epochs would do
        fewer than 1e11 floating-point operations (6 per row and weight of the
        hidden layers, an epoch): small tables get more optimizer steps, at
        little cost in time.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows and keep the weights of
        the epoch that scores best on them.
    validation_fraction : float, default=0.2
        Share of the training rows held out when ``early_stopping``.
    n_iter_no_change : int, default=40
        Epochs without improvement on the held-out rows before training
        stops (before the schedule's end, only in fits of more than 40 epochs).
    max_categories : int, default=32
        One-hot columns per categorical column at most: a column with more
        values gets a learned embedding of ``embedding_size`` outputs
        instead (its 1,022 most frequent values, all others, missing), or
        with ``embedding_size=0``, one-hot columns for its most frequent
        values and one for all others.
    n_bins : int or "auto", default="auto"
        Quantile bins of the piecewise-linear encoding of each numeric
        column (0: the scaled value alone).  "auto": 16 where the table has
        at most 8 numeric columns, else 0: on wider tables the periodic
        embeddings alone, since the encodings would multiply the width of
        the network's input, and the cost of its first layer.
    embedding_size : int, default=16
        Outputs of each numeric column's learned periodic embedding (0:
        none): ``n_frequencies`` cosines of the scaled value, a linear map
        and a ReLU, trained with the network; and of each embedded
        categorical column's (``max_categories``).
    n_frequencies : int, default=16
        Learned frequencies of each periodic embedding.
    column_scaling : bool, default=True
        Whether every encoded column has a learned scale, trained with a
        six times larger step than the network's weights.
    n_heads : int, default=1
        Copies of the network trained as one ensemble (TabM-mini): each
        multiplies the front layer's output by its own learned adapter and
        has its own output layer; the hidden layers are shared. The loss is
        the mean of the copies' losses, the prediction the mean of their
        probabilities (predictions). Costs ``n_heads`` times the rows
        through the hidden layers.
    n_networks : int or "auto", default="auto"
        Networks trained independently, each with its own initialisation,
        shuffles, dropout masks and held-out rows, whose probabilities
        (predictions) are averaged.  They train at the same time, each on a
        share of the ``n_jobs`` threads, so that on two or more threads two
        networks take less than twice the time of one; a prediction costs
        one pass of each.  "auto": 2, or 1 where a network's dense layers
        have more than 2**18 weights (in the default network, a first layer
        of more than 512 inputs), whose second network would cost a one-row
        prediction more than the first, or where its training takes more
        than 1e12 floating-point operations (counted as for ``max_iter``):
        a second network gains most on small tables, and costs least there.
    max_time : float, default=None
        Seconds of training after which no new epoch starts.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation, the shuffles, dropout and the held-out split.
    n_jobs : int, default=None
        Threads, as in ``MLPClassifier``: None means all cores, or fewer
        where ``OMP_NUM_THREADS`` or the CPU affinity limit the process.
    dtype : {"auto", "float32", "float64", "bfloat16"}, default="auto"
        Precision of the network.  "bfloat16" trains float32 weights with
        bfloat16 products (``MLPClassifier``'s mixed precision), which needs
        a CPU with the AVX512_BF16 instructions; "auto" is "bfloat16" on such
        a CPU and "float32" on the others.  The fitted weights are float32
        either way, and predict on any CPU.
    verbose : bool, default=False
        Print the loss of every epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    encoder_ : TableEncoder
        The fitted table encoding.
    networks_ : list of MLPClassifier
        The fitted networks, on the encoded table.
    n_iter_ : int
        Epochs trained (the most of any network).
    n_features_in_ : int
        Columns of the table seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when the table had string column names.
    """

    _parameter_constraints = {
        **_TabularMLP._parameter_constraints,
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    # the class of the networks
    _network_class = _FrontMLPClassifier

    def __init__(self, hidden_layer_sizes=(256, 256, 256), activation="silu", dropout=0.15,
                 solver="adamw", learning_rate="onecycle", learning_rate_init=0.002,
                 beta_2=0.95, weight_decay=0.02, label_smoothing=0.1, batch_size="auto",
                 max_iter="auto", early_stopping=True, validation_fraction=0.2,
                 n_iter_no_change=40, max_categories=32, n_bins="auto", embedding_size=16,
                 n_frequencies=16, column_scaling=True, n_heads=1, n_networks="auto",
                 max_time=None,
                 random_state=None, n_jobs=None, dtype="auto", verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.beta_2 = beta_2
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.max_categories = max_categories
        self.n_bins = n_bins
        self.embedding_size = embedding_size
        self.n_frequencies = n_frequencies
        self.column_scaling = column_scaling
        self.n_heads = n_heads
        self.n_networks = n_networks
        self.max_time = max_time
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.dtype = dtype
        self.verbose = verbose

    @with_callbacks
    def fit(self, X, y, sample_weight=None):
        """Fit the encoding and the network to the table ``X`` and labels ``y``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The table.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        self : TabularMLPClassifier
            The fitted estimator.
        """
        validate_params(self)
        with self._unchanged_on_error():
            Z = self._encode(X, reset=True)
            y = self._check_target(y, Z)
            if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
                raise ValueError("Input y contains NaN or infinity.")
            check_classification_targets(y)
            self._fit_networks(lambda: self._model(_FrontMLPClassifier, Z.shape,
                                                   label_smoothing=self.label_smoothing),
                               Z, y, sample_weight, (X, y))
        return self

    def predict_proba(self, X):
        """Class probabilities of the rows of ``X``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The table.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        self._check_is_fitted()
        return self._mean_output(self._encode(X, reset=False), binary_proba=True)

    def predict(self, X):
        """Predicted class of each row of ``X``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The table.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Class labels.
        """
        self._check_is_fitted()
        return self.networks_[0]._labels(self._mean_output(self._encode(X, reset=False)))


class TabularMLPRegressor(RegressorMixin, _TabularMLP):
    """Multilayer perceptron regressor for raw tables.

    As ``TabularMLPClassifier`` (its encoding, network and training, but no
    dropout and no held-out rows), for a real target: the network learns the
    standardised target (mean 0, standard deviation 1 over the training rows)
    with the squared error, and predictions are mapped back.

    Parameters
    ----------
    dropout : float, default=0.0
        Dropout rate of every hidden layer.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows and keep the weights of
        the epoch that scores best on them.  Off by default: the network
        trains on every row and keeps its last epoch, where the schedule's
        step has come down to zero.
    hidden_layer_sizes, activation, solver, learning_rate, learning_rate_init, \
beta_2, weight_decay, batch_size, max_iter, \
validation_fraction, n_iter_no_change, max_categories, n_bins, embedding_size, \
n_frequencies, column_scaling, n_heads, n_networks, max_time, random_state, n_jobs, \
dtype, verbose
        As in :class:`TabularMLPClassifier` (activations and solvers those of
        ``MLPRegressor``).

    Attributes
    ----------
    encoder_ : TableEncoder
        The fitted table encoding.
    networks_ : list of MLPRegressor
        The fitted networks, on the encoded table and standardised target.
    target_mean_, target_scale_ : ndarray of shape (n_outputs,)
        The standardisation of the target.
    n_iter_ : int
        Epochs trained (the most of any network).
    n_features_in_ : int
        Columns of the table seen in ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when the table had string column names.
    """

    # the class of the networks
    _network_class = _FrontMLPRegressor

    def __init__(self, hidden_layer_sizes=(256, 256, 256), activation="silu", dropout=0.0,
                 solver="adamw", learning_rate="onecycle", learning_rate_init=0.002,
                 beta_2=0.95, weight_decay=0.02, batch_size="auto", max_iter="auto",
                 early_stopping=False, validation_fraction=0.2, n_iter_no_change=40,
                 max_categories=32, n_bins="auto", embedding_size=16,
                 n_frequencies=16, column_scaling=True, n_heads=1, n_networks="auto",
                 max_time=None,
                 random_state=None, n_jobs=None, dtype="auto", verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.solver = solver
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.beta_2 = beta_2
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.max_categories = max_categories
        self.n_bins = n_bins
        self.embedding_size = embedding_size
        self.n_frequencies = n_frequencies
        self.column_scaling = column_scaling
        self.n_heads = n_heads
        self.n_networks = n_networks
        self.max_time = max_time
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.dtype = dtype
        self.verbose = verbose

    @with_callbacks
    def fit(self, X, y, sample_weight=None):
        """Fit the encoding and the network to the table ``X`` and target ``y``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The table.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows.

        Returns
        -------
        self : TabularMLPRegressor
            The fitted estimator.
        """
        validate_params(self)
        with self._unchanged_on_error():
            Z = self._encode(X, reset=True)
            y = self._check_target(y, Z).astype(np.float64)
            if not np.all(np.isfinite(y)):
                raise ValueError("Input y contains NaN or infinity.")
            mean, scale = y.mean(axis=0), y.std(axis=0)
            scale = np.where(scale > 0, scale, 1.0)
            self.target_mean_, self.target_scale_ = np.atleast_1d(mean), np.atleast_1d(scale)
            self._fit_networks(lambda: self._model(_FrontMLPRegressor, Z.shape),
                               Z, (y - mean) / scale, sample_weight, (X, y))
        return self

    def predict(self, X):
        """Predicted target of each row of ``X``.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The table.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted values.
        """
        self._check_is_fitted()
        out = self._mean_output(self._encode(X, reset=False))
        if out.shape[1] == 1:
            return out[:, 0] * self.target_scale_[0] + self.target_mean_[0]
        return out * self.target_scale_ + self.target_mean_
