"""MLPClassifier and MLPRegressor: scikit-learn's interface over the fastnn engine.

This layer validates parameters and input, keeps the fitted attributes and
the scikit-learn semantics; all numerical work happens in ``_engine`` and the
compiled kernels below it.
"""

import copy
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.metrics import accuracy_score, check_scoring
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_array, validate_data

from . import _engine
from ._base import InputsMixin, NetworkMixin, ParametersMixin, _plain_matrix
from ._callbacks import CallbackSupportMixin, FitTasks, snapshot, with_callbacks
from ._config import DEFERRED_CHECK_MIN_BYTES
from ._init import init_front, init_layer
from ._network import Network
from ._losses import LOSSES, OUTPUT_ACTIVATION, mean_loss
from ._optimizers import REGISTRY as OPTIMIZERS
from ._validation import Interval, Mapping, Options, validate_params

_STOCHASTIC_SOLVERS = tuple(OPTIMIZERS)

# Training rows (evenly spaced) whose outputs are checked for overflow after a fit.
_CHECKED_ROWS = 256


class BaseMultilayerPerceptron(CallbackSupportMixin, ParametersMixin, InputsMixin, NetworkMixin,
                               BaseEstimator):
    """Fitting and prediction shared by the two estimators; use a subclass."""


    # ------------------------------------------------------------------
    # network <-> fitted attributes
    # ------------------------------------------------------------------

    def _front_layer(self, n_features):
        """The network's front layer (``_network.Front``) for ``n_features``
        input columns, or None (the default: none)."""
        return None

    def _initialize(self, y, layer_units, dtype, front=None):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        hidden = self._hidden_activations(len(layer_units) - 2)
        # scikit-learn's scheme looks at the hidden activation for every layer
        sklearn_activation = hidden[-1] if hidden else self.activation
        self.coefs_, self.intercepts_ = [], []
        for l, (fan_in, fan_out) in enumerate(zip(layer_units[:-1], layer_units[1:])):
            coef, intercept = init_layer(
                self.weight_init, self._random_state, fan_in, fan_out,
                hidden[l] if l < len(hidden) else None,
                hidden[l] if l < len(hidden) else sklearn_activation, dtype,
            )
            self.coefs_.append(coef)
            self.intercepts_.append(intercept)
        self._net = None
        if front is not None:
            net = Network(layer_units, hidden, self.out_activation_, dtype, front=front)
            net.set_params(self.coefs_, self.intercepts_)
            net.front_params[:] = init_front(front, self._random_state, dtype)
            self._store_network(net)
        theta = self._network(dtype).theta
        self._log = _engine.TrainingLog(self.early_stopping, theta)
        self._publish_log(self._log)

    def _publish_log(self, log):
        """Copy the training log into the fitted attributes scikit-learn has."""
        self.n_iter_ = log.n_iter
        self.t_ = log.t
        if log.loss is not None:
            self.loss_ = log.loss
        self._best_theta = log.best_theta
        self.history_ = log.history
        if self.solver in _STOCHASTIC_SOLVERS:
            self.loss_curve_ = log.loss_curve
            self._no_improvement_count = log.no_improvement_count
            self.best_loss_ = log.best_loss
            self.validation_scores_ = log.validation_scores
            self.best_validation_score_ = log.best_validation_score

    # ------------------------------------------------------------------
    # fitting
    # ------------------------------------------------------------------

    def _fit(self, X, y, sample_weight=None, incremental=False, X_val=None, y_val=None,
             sample_weight_val=None):
        if not (incremental and self.__sklearn_is_fitted__()):
            # like scikit-learn, partial_fit validates the parameters on its
            # first call only (every later call would pay ~0.1 ms for it)
            validate_params(self)
            self._check_settings()
        hidden = self._hidden_layer_sizes()
        dtype = self._weights_dtype()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        given = X, y
        deferred = self._defers_finite_check(X, incremental, first_pass, dtype)
        X, y = self._validate_input(X, y, incremental, reset=first_pass, dtype=dtype,
                                    check_finite=not deferred)
        sample_weight = self._check_sample_weight(sample_weight, X.shape[0], dtype)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        front = self._front_layer(X.shape[1])
        # (with copies of the network, their output layers side by side: ``_ensemble``)
        layer_units = ([X.shape[1], *hidden, y.shape[1]] if front is None
                       else [front.n_outputs, *hidden, y.shape[1] * front.copies])
        self._per_layer("activation", self.activation, len(hidden))
        self._per_layer("dropout", self.dropout, len(hidden))
        validation = None
        if X_val is not None or y_val is not None:
            if self.solver not in _STOCHASTIC_SOLVERS:
                raise ValueError(f"X_val and y_val need a stochastic solver; got"
                                 f" solver={self.solver!r}.")
            validation = self._validation_set(X_val, y_val, sample_weight_val, y.shape[1],
                                              dtype)
        sample_weight = self._class_weights(y, sample_weight, dtype)
        self._random_state = check_random_state(self.random_state)
        rng_state = self._random_state.get_state() if deferred else None
        if first_pass:
            self._initialize(y, layer_units, dtype, front)
        else:
            fitted_units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
            if fitted_units != layer_units:
                raise ValueError(
                    f"The network fitted so far has layer sizes {fitted_units}; this call"
                    f" needs {layer_units}. Change of hidden_layer_sizes or of the number"
                    " of outputs requires a new fit (warm_start=False)."
                )
        net = self._training_network(dtype)
        if not net.theta.flags.writeable:
            # e.g. loaded by joblib.load(..., mmap_mode="r"): train a copy
            net = copy.copy(net)
            net.theta = net.theta.copy()
        # the callbacks see the data as given: their scorers predict with it
        tasks = FitTasks.begin(self, *given, sample_weight, 1 if incremental else self.max_iter,
                               self._fitted_as(net))
        if self.solver in _STOCHASTIC_SOLVERS:
            saved = self._training_state(net) if deferred else None
            try:
                self._fit_stochastic(net, X, y, sample_weight, incremental, validation, tasks,
                                     check_input=deferred)
            except _engine.NonFiniteInput:  # (raised only where ``deferred``)
                self._restore_training_state(net, saved, rng_state)
                check_array(X, dtype=None, estimator=self, input_name="X")  # its error
                raise ValueError("Input X contains NaN or infinity.") from None
        else:
            self.n_iter_, self.loss_ = _engine.fit_lbfgs(
                net, _engine.Data(X, self._smoothed(y), sample_weight, dtype),
                loss_code=LOSSES[self._loss_name()], alpha=self.alpha,
                max_iter=self.max_iter, max_fun=self.max_fun, tol=self.tol,
                verbose=self.verbose, n_jobs=self.n_jobs,
                on_iteration=None if tasks is None else tasks.iteration,
            )
            self.history_ = None
        self._store_network(net)
        self._check_not_diverged(net, X, incremental)
        if tasks is not None:
            tasks.end()
        return self

    def _defers_finite_check(self, X, incremental, first_pass, dtype):
        """Whether this ``partial_fit`` leaves the check of ``X`` for NaN and
        infinity to its training kernel, whose lanes check their rows in the
        cache, in the copy their first product used, rather than in a pass of
        its own over ``X``, which reads it from memory.  For a fitted
        network without a front layer or callbacks, given a plain array of at
        least ``DEFERRED_CHECK_MIN_BYTES`` (a smaller one is read from the
        cache) and four times the size of the model's copy (restored if a row
        holds NaN or infinity).
        """
        net, opt = getattr(self, "_net", None), getattr(self, "_optimizer", None)
        return (incremental and not first_pass and net is not None and opt is not None
                and net.front is None and not getattr(self, "_skl_callbacks", None)
                and _plain_matrix(X, dtype) and X.nbytes >= DEFERRED_CHECK_MIN_BYTES
                and X.size >= 4 * (net.theta.size + opt.state.size))

    def _training_state(self, net):
        """What an epoch changes: the weights, the optimizer and its state, the
        training log's counters (``_restore_training_state``)."""
        opt, log = self._optimizer, getattr(self, "_log", None)
        return (net.theta.copy(), opt, opt.state.copy(), (opt.t, opt.mu_product, opt.last_rate),
                log, None if log is None else (log.n_iter, log.stopped))

    def _restore_training_state(self, net, saved, rng_state):
        """Put back ``_training_state``'s state and the random state's."""
        theta, opt, state, clock, log, counters = saved
        net.theta[:] = theta
        self._optimizer = opt
        opt.state[:] = state
        opt.t, opt.mu_product, opt.last_rate = clock
        if log is not None:
            self._log = log
            log.n_iter, log.stopped = counters
        self._random_state.set_state(rng_state)

    def _fitted_as(self, net):
        """The attributes that make a copy of this estimator predict with the
        weights ``net`` has now (for the callbacks' ``fitted_estimator``)."""

        def attributes():
            trained = snapshot(net)
            return {"_net": trained, "coefs_": trained.coefs,
                    "intercepts_": trained.intercepts}

        return attributes

    def _class_weights(self, Y, sample_weight, dtype):
        """``sample_weight`` times the class weights (classifiers)."""
        return sample_weight

    def _smoothed(self, Y):
        """The training targets (classifiers: with label smoothing)."""
        return Y

    def _check_not_diverged(self, net, X, incremental):
        """Raise a ValueError, as scikit-learn does for non-finite weights, when
        the fit diverged.

        Weights can stay finite while the outputs overflow: the stochastic
        solvers stop at the first non-finite epoch loss, L-BFGS-B gives up
        without a step on a non-finite gradient, and the last mini-batch
        step of a fit is never evaluated.  Early stopping restores the
        weights of the best finite validation score (the initial weights
        when no epoch had one).  A ``partial_fit`` call is not followed by
        the forward pass: the next call's loss reports the overflow.
        """
        fault = None
        if not _engine.all_finite(net.theta):
            fault = "non-finite parameter weights"
        elif self.solver in _STOCHASTIC_SOLVERS and self.early_stopping:
            if len(self.validation_scores_) and not np.isfinite(self.best_validation_score_):
                fault = "non-finite outputs on the validation set in every epoch"
        elif not np.isfinite(getattr(self, "loss_", 0.0)):
            fault = f"a non-finite loss ({self.loss_})"
        if fault is None and not incremental:
            rows = X[::max(1, X.shape[0] // _CHECKED_ROWS)][:_CHECKED_ROWS]
            out = _engine.forward(net, _engine.Data(rows, dtype=net.theta.dtype), self.n_jobs)
            if not np.all(np.isfinite(out)):
                fault = "non-finite outputs on the training data"
        if fault is not None:
            raise ValueError(
                f"Solver produced {fault}. The input data may contain large values and"
                " need to be preprocessed, or the learning rate may be too large."
            )

    def _fit_stochastic(self, net, X, Y, sample_weight, incremental, validation, tasks=None,
                        check_input=False):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        dtype = net.theta.dtype
        if validation is None and self.early_stopping:
            stratify = Y if is_classifier(self) and self.n_outputs_ == 1 else None
            arrays = (X, Y) if sample_weight is None else (X, Y, sample_weight)
            split = train_test_split(
                *arrays, random_state=self._random_state,
                test_size=self.validation_fraction, stratify=stratify,
            )
            X, X_val, Y, Y_val = split[:4]
            sample_weight, sw_val = (None, None) if sample_weight is None else split[4:]
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' "
                    "or the size of your dataset."
                )
            y_val = self._label_binarizer.inverse_transform(Y_val) if is_classifier(self) \
                else Y_val
            validation = (X_val, y_val, Y_val, sw_val)

        n_samples = X.shape[0]
        batch_size = self._batch_size(n_samples)
        total_steps = self.max_iter * -(-n_samples // batch_size)
        optimizer = getattr(self, "_optimizer", None)
        if (not incremental or optimizer is None or optimizer.state.dtype != dtype
                or optimizer.state.shape[1] != net.n_params
                or getattr(optimizer, "solver", None) != self.solver):
            self._optimizer = self._make_optimizer(net.n_params, dtype, total_steps)
        elif not optimizer.state.flags.writeable:  # loaded from a read-only memmap
            optimizer.state = optimizer.state.copy()

        log = getattr(self, "_log", None)
        if log is None:  # fitted by a version without the log
            log = self._log = _engine.TrainingLog(self.early_stopping, net.theta)
        evaluate = None
        if validation is not None:
            evaluate = self._validation_scorer(net, *validation)
            # scorers predict with the estimator: it must see the weights trained
            self._store_network(net)
        # partial_fit keeps its runner (workspaces and kernels) for the next call
        previous = self.__dict__.pop("_runner", None)
        runner = _engine.EpochRunner.reuse(
            previous if incremental else None,
            net, _engine.Data(X, self._smoothed(Y), sample_weight, dtype), self._optimizer,
            LOSSES[self._loss_name()], self.alpha, batch_size, self.n_jobs,
            packed=self._packed_products(net),
        )
        _engine.fit_stochastic(
            runner, log, shuffle=self.shuffle, rng=self._random_state, max_iter=self.max_iter,
            tol=self.tol, n_iter_no_change=self.n_iter_no_change, incremental=incremental,
            verbose=self.verbose, validation=evaluate, early_stopping=self.early_stopping,
            max_time=self.max_time,
            on_epoch_begin=None if tasks is None else tasks.epoch_begins,
            on_epoch_end=self._epoch_end_hook(tasks), check_input=check_input,
        )
        self._publish_log(log)
        if incremental:
            runner.data = None  # (not to keep the caller's data alive)
            self._runner = runner

    def _epoch_end_hook(self, tasks):
        """What ``fit_stochastic`` calls after every epoch, which stops the fit
        by returning True: the callbacks' end of the epoch's task, if any."""
        return None if tasks is None else tasks.epoch_ends

    def _validation_scorer(self, net, X_val, y_val, Y_val, sw_val):
        """A callable giving the validation loss and score of the network being trained."""
        data = _engine.Data(X_val, dtype=net.theta.dtype)
        loss_name = self._loss_name()
        scorer = None
        if self.scoring is None:
            score_output = self._output_scorer(y_val, sw_val)
        elif self.scoring != "loss":
            scorer = check_scoring(self, scoring=self.scoring)

        def evaluate():
            output = _engine.forward(net, data, self.n_jobs, bf16=self._bf16)
            if not np.all(np.isfinite(output)):
                return np.nan, np.nan
            loss = mean_loss(loss_name, output, Y_val, sw_val)
            if self.scoring is None:
                return loss, score_output(output)
            if self.scoring == "loss":
                return loss, -loss
            kwargs = {} if sw_val is None else {"sample_weight": sw_val}
            return loss, float(scorer(self, X_val, y_val, **kwargs))

        return evaluate

    @with_callbacks
    def fit(self, X, y, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The input data.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in
            regression).
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.
        X_val : {array-like, sparse matrix} of shape (n_val, n_features), default=None
            Validation input (stochastic solvers).  Its loss and score are
            recorded in ``history_`` after every epoch; with
            ``early_stopping=True`` it replaces the ``validation_fraction``
            split.
        y_val : array-like of shape (n_val,) or (n_val, n_outputs), default=None
            Validation targets; given with ``X_val``.
        sample_weight_val : array-like of shape (n_val,), default=None
            Weights of the validation samples.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False, X_val=X_val,
                         y_val=y_val, sample_weight_val=sample_weight_val)

    def _check_solver(self):
        if self.solver not in _STOCHASTIC_SOLVERS:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. %s is not"
                " stochastic." % self.solver
            )
        return True

    # ------------------------------------------------------------------
    # prediction
    # ------------------------------------------------------------------

    def _forward_pass_fast(self, X, binary_proba=False):
        """Output layer activations for ``X`` (n_samples, n_outputs).

        With ``binary_proba`` a single-output network gives two columns,
        ``1 - p`` and ``p``.
        """
        net = self._network()
        dtype = net.theta.dtype
        if self._few_plain_rows(X):
            # Latency path: the checks validate_data would make, minus its
            # general machinery; finiteness is checked in the kernel.
            return _engine.forward_few(net, np.ascontiguousarray(X, dtype=dtype), binary_proba)
        plain = self._validate_plain(X, None, False, dtype)
        X = plain if plain is not None else validate_data(
            self, X, accept_sparse=["csr", "csc"], reset=False, dtype=dtype, order="C",
        )
        return _engine.forward(net, _engine.Data(X, dtype=dtype), self.n_jobs, binary_proba)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, BaseMultilayerPerceptron):
    """Multi-layer perceptron classifier trained by compiled Numba kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPClassifier`:
    same parameters, defaults, attributes and stopping rules, trained with no
    Python per mini-batch.  It optimises the log-loss with L-BFGS or a
    stochastic solver, with the training toolbox of the README on top.

    Parameters
    ----------
    hidden_layer_sizes : array-like of shape (n_layers - 2,), default=(100,)
        The ith element is the number of neurons in the ith hidden layer.
    activation : str or list of str, default='relu'
        Activation of the hidden layers ('identity', 'logistic', 'tanh',
        'relu', 'leaky_relu', 'elu', 'selu', 'gelu', 'silu', 'mish',
        'softplus'), or one per hidden layer.
    solver : {'lbfgs', 'sgd', 'adam', 'rmsprop', 'adagrad', 'adamw', 'nadam'}, \
default='adam'
        Weight optimisation.  'lbfgs' is SciPy's L-BFGS-B on the full-batch
        loss; the others run mini-batches inside compiled epochs.
    alpha : float, default=0.0001
        Strength of the L2 penalty, divided by the (weighted) batch size.
    batch_size : int or 'auto', default='auto'
        Mini-batch size for the stochastic solvers; 'auto' is min(200, n_samples).
    learning_rate : {'constant', 'invscaling', 'adaptive', 'cosine', 'onecycle'}, \
default='constant'
        Learning-rate schedule of the stochastic solvers ('cosine' and
        'onecycle' change it at every mini-batch, over ``max_iter`` epochs).
    learning_rate_init : float, default=0.001
        Initial (or peak, for 'onecycle') learning rate of the stochastic solvers.
    power_t : float, default=0.5
        Exponent of the 'invscaling' schedule.
    max_iter : int, default=200
        Maximum number of epochs (stochastic solvers) or iterations (lbfgs).
    shuffle : bool, default=True
        Whether to shuffle samples every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, the early-stopping split and shuffling.
    tol : float, default=1e-4
        Improvement under which an epoch counts as no improvement.
    verbose : bool, default=False
        Print the loss after every epoch.
    warm_start : bool, default=False
        Reuse the previous solution as initialisation.
    momentum : float, default=0.9
        Momentum of 'sgd'.
    nesterovs_momentum : bool, default=True
        Use Nesterov's momentum with 'sgd'.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified unless y is
        multilabel) and stop when its accuracy stops improving; the best
        weights are restored.
    validation_fraction : float, default=0.1
        Held-out fraction for early stopping.
    beta_1, beta_2 : float, default=0.9, 0.999
        Decay rates of the first and second moment estimates of 'adam',
        'adamw' and 'nadam'.
    epsilon : float, default=1e-8
        Numerical-stability constant of 'adam', 'adamw', 'nadam', 'rmsprop'
        and 'adagrad'.
    n_iter_no_change : int, default=10
        Epochs without ``tol`` improvement before stopping.
    max_fun : int, default=15000
        Maximum loss evaluations of 'lbfgs'.
    dtype : {'float32', 'float64', 'bfloat16'}, default='float32'
        Precision of the weights and of all computation. 'bfloat16' is mixed
        precision, as PyTorch's CPU autocast: float32 weights, and the
        products of training's forward and backward passes with operands
        rounded to bfloat16 and sums in float32 (the activations, their
        derivatives, the loss and the optimizer stay float32). It needs a
        stochastic solver and, to fit, a CPU with AVX512_BF16 (a ValueError
        says so otherwise); prediction is float32, on any CPU (the
        validation scores of early stopping, during the fit, take bfloat16
        products).
    n_jobs : int or None, default=None
        Threads used by the kernels. None means all cores, or fewer where
        the process is limited: by the ``OMP_NUM_THREADS`` environment
        variable (which joblib's loky workers and Dask's worker processes
        set to their share of the cores) or by its CPU affinity. -1 means
        all cores whatever the limit, -k all but k - 1.
    weight_init : str, default='sklearn'
        'sklearn' (scikit-learn's uniform scheme), or 'glorot_uniform',
        'glorot_normal', 'he_uniform', 'he_normal', 'lecun_uniform',
        'lecun_normal' (intercepts zero); see ``fastnn._init``.
    dropout : float or list of float, default=0.0
        Rate at which the hidden layers' outputs are dropped at every
        training step, or one rate per hidden layer; stochastic solvers only.
    dropout_kind : {'bernoulli', 'gaussian'}, default='bernoulli'
        Inverted Bernoulli dropout, or multiplication by N(1, p / (1 - p)).
    rho : float, default=0.9
        Decay of the squared-gradient average of 'rmsprop'.
    weight_decay : float, default=0.01
        Decoupled weight decay of 'adamw' (on the weights, not the intercepts).
    clip_norm : float or None, default=None
        Scale each mini-batch gradient down to this global L2 norm at most.
    clip_value : float or None, default=None
        Clip each gradient component to ``[-clip_value, clip_value]``.
    scoring : None, 'loss', str or callable, default=None
        Score that early stopping maximises on the validation data: None is
        accuracy (R^2 for the regressor), 'loss' the negated validation
        loss, otherwise a scikit-learn scorer name or callable.
    max_time : float or None, default=None
        Seconds after which training stops, at the end of an epoch.
    class_weight : None, 'balanced' or dict, default=None
        Weights of the classes, multiplied into the sample weights, as in
        scikit-learn's linear models (binary and multiclass targets).
    label_smoothing : float, default=0.0
        Train on the targets ``y (1 - e) + e / K`` (K classes, 2 for each
        output of a binary or multilabel target).

    Attributes
    ----------
    classes_, loss_, best_loss_, loss_curve_, validation_scores_,
    best_validation_score_, t_, coefs_, intercepts_, n_features_in_,
    feature_names_in_, n_iter_, n_layers_, n_outputs_, out_activation_
        As in scikit-learn's MLPClassifier.
    history_ : dict of list or None
        Per epoch of the stochastic solvers: 'loss', 'val_loss' and
        'val_score' (NaN without validation data), 'learning_rate' (of the
        epoch's last step) and 'time' (seconds); None after 'lbfgs'.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from fastnn import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier(random_state=0, max_iter=50).fit(X / 16, y)
    >>> clf.score(X / 16, y) > 0.95
    True
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype="float32",
        n_jobs=None,
        weight_init="sklearn",
        dropout=0.0,
        dropout_kind="bernoulli",
        rho=0.9,
        weight_decay=0.01,
        clip_norm=None,
        clip_value=None,
        scoring=None,
        max_time=None,
        class_weight=None,
        label_smoothing=0.0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.weight_init = weight_init
        self.dropout = dropout
        self.dropout_kind = dropout_kind
        self.rho = rho
        self.weight_decay = weight_decay
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.scoring = scoring
        self.max_time = max_time
        self.class_weight = class_weight
        self.label_smoothing = label_smoothing

    _parameter_constraints = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "class_weight": [Options(None, "balanced"), Mapping()],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
    }

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _loss_name(self):
        return "log_loss" if self.out_activation_ == "softmax" else "binary_log_loss"

    def _validate_input(self, X, y, incremental, reset, dtype, check_finite=True):
        plain = self._validate_plain(X, y, reset, dtype, check_finite)
        X, y = plain if plain is not None else validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True, dtype=dtype,
            order="C", reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        elif self.warm_start:
            classes = unique_labels(y)
            if set(classes) != set(self.classes_):
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in"
                    f" the previous call to fit. Previously got {self.classes_}, `y`"
                    f" has {classes}"
                )
        return X, self._encode_labels(y, dtype)

    def _class_weights(self, Y, sample_weight, dtype):
        """``sample_weight`` times the weight of each sample's class."""
        if self.class_weight is None:
            return sample_weight
        if self._label_binarizer.y_type_ not in ("binary", "multiclass"):
            raise ValueError("class_weight is supported for binary and multiclass targets"
                             f" only; y is {self._label_binarizer.y_type_}.")
        index = Y[:, 0].astype(np.intp) if Y.shape[1] == 1 else np.argmax(Y, axis=1)
        weights = compute_class_weight(self.class_weight, classes=self.classes_,
                                       y=self.classes_[index])
        sw = weights[index].astype(dtype)
        return sw if sample_weight is None else sample_weight * sw

    def _smoothed(self, Y):
        """Targets with label smoothing: ``Y (1 - e) + e / K``, over the K
        classes (2 for each output of a binary or multilabel target)."""
        eps = self.label_smoothing
        if not eps:
            return Y
        k = Y.shape[1] if self._label_binarizer.y_type_ == "multiclass" else 2
        return (Y * (1 - eps) + eps / k).astype(Y.dtype)

    def _validation_targets(self, y_val, dtype):
        if self._label_binarizer.y_type_ in ("binary", "multiclass"):
            unseen = np.setdiff1d(unique_labels(y_val), self.classes_)
            if len(unseen):
                raise ValueError(f"y_val has classes {unseen} that are not in y (classes"
                                 f" {self.classes_}).")
        return self._encode_labels(y_val, dtype)

    def _encode_labels(self, y, dtype):
        """Targets as the network's outputs: one column for two classes, else one-hot.

        Does what ``LabelBinarizer.transform`` does for class labels with one
        sorted search, which matters for ``partial_fit`` on large batches;
        label indicator matrices go through the binarizer.
        """
        binarizer = self._label_binarizer
        if y.ndim != 1 or binarizer.y_type_ not in ("binary", "multiclass"):
            return binarizer.transform(y).astype(dtype)
        classes = self.classes_
        if (y.dtype.kind in "iu" and classes.dtype.kind in "iu"
                and classes[0] == 0 and classes[-1] == len(classes) - 1):
            # labels 0 .. k-1 are their own index
            unseen = len(y) > 0 and (y.min() < 0 or y.max() >= len(classes))
            index = y
        else:
            try:
                index = np.minimum(np.searchsorted(classes, y), len(classes) - 1)
                unseen = np.any(classes[index] != y)
            except TypeError:  # labels of a type that does not compare with classes_
                unseen = True
        if unseen:
            raise ValueError(
                f"`y` has classes not in `self.classes_`. `self.classes_` has"
                f" {self.classes_}. 'y' has {unique_labels(y)}."
            )
        if binarizer.y_type_ == "binary":
            return index.astype(dtype).reshape(-1, 1)
        Y = np.zeros((len(y), len(classes)), dtype=dtype)
        Y[np.arange(len(y)), index] = 1
        return Y

    def _output_scorer(self, y, sample_weight):
        """The accuracy of finite network outputs on the labels ``y``, as a
        function of the outputs (``accuracy_score``; once a fit's epoch).

        Binary and multiclass labels are compared as class indices, which
        saves comparing the labels themselves (often strings) every epoch.
        """
        y_type = self._label_binarizer.y_type_
        if y_type == "binary" and len(self.classes_) == 2:
            def predicted(output):
                return output[:, 0] > 0.5
        elif y_type == "multiclass":
            def predicted(output):
                return np.argmax(output, axis=1)
        else:
            return lambda output: accuracy_score(y, self._labels(output),
                                                 sample_weight=sample_weight)
        # (the classes are sorted, as LabelBinarizer's)
        index = np.searchsorted(self.classes_, y)
        return lambda output: float(np.average(predicted(output) == index,
                                               weights=sample_weight))

    def _labels(self, output):
        """Class labels from network outputs, as ``LabelBinarizer.inverse_transform``."""
        y_type = self._label_binarizer.y_type_
        if y_type == "binary" and len(self.classes_) == 2:
            return self.classes_[(output[:, 0] > 0.5).astype(np.intp)]
        if y_type == "multiclass":
            return self.classes_.take(np.argmax(output, axis=1))
        if self.n_outputs_ == 1:
            output = output.ravel()
        return self._label_binarizer.inverse_transform(output)

    def predict(self, X):
        """Predict class labels (or label indicator rows for multilabel y).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        self._check_is_fitted()
        return self._labels(self._forward_pass_fast(X))

    @available_if(lambda est: est._check_solver())
    @with_callbacks
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch of the stochastic solver over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
        classes : array of shape (n_classes,), default=None
            All classes that will appear over the calls; required on the first
            call (unless y is a multilabel indicator matrix), ignored after.

        Returns
        -------
        self : object
        """
        if not hasattr(self, "classes_"):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            elif classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            else:
                self._label_binarizer.fit(classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not (
            # (the classes of the first call, as every later call passes them)
            (type(classes) is np.ndarray and np.array_equal(classes, self.classes_))
            or np.array_equal(np.unique(classes), np.unique(self.classes_))
        ):
            raise ValueError(
                f"`classes={classes!r}` is not the same as on last call to partial_fit,"
                f" was: {self.classes_!r}"
            )
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict_proba(self, X):
        """Probability estimates.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y_prob : ndarray of shape (n_samples, n_classes)
        """
        self._check_is_fitted()
        return self._forward_pass_fast(X, binary_proba=True)

    def predict_log_proba(self, X):
        """Logarithm of the probability estimates, ``log(predict_proba(X))``."""
        y_prob = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(y_prob, out=y_prob)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMultilayerPerceptron):
    """Multi-layer perceptron regressor trained by compiled Numba kernels.

    A drop-in replacement for :class:`sklearn.neural_network.MLPRegressor`.
    It optimises half the squared error (or half the Poisson deviance, with an
    exponential output) and supports several outputs.  For several outputs
    the loss is the *sum* over outputs, so the loss and its gradient agree.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        Loss to minimise; 'poisson' uses an exp output and needs y >= 0.
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, \
learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, \
warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction, \
beta_1, beta_2, epsilon, n_iter_no_change, max_fun, dtype, n_jobs, \
weight_init, dropout, dropout_kind, rho, weight_decay, clip_norm, clip_value, \
scoring, max_time
        As in :class:`MLPClassifier`; early stopping scores R^2 on the
        held-out data (not stratified) unless ``scoring`` says otherwise.

    Attributes
    ----------
    loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_,
    t_, coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_,
    n_layers_, n_outputs_, out_activation_, history_
        As in scikit-learn's MLPRegressor.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from fastnn import MLPRegressor
    >>> X, y = make_regression(n_samples=200, random_state=0)
    >>> reg = MLPRegressor(solver="lbfgs", random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **BaseMultilayerPerceptron._parameter_constraints,
        "loss": [Options("squared_error", "poisson")],
    }

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dtype="float32",
        n_jobs=None,
        weight_init="sklearn",
        dropout=0.0,
        dropout_kind="bernoulli",
        rho=0.9,
        weight_decay=0.01,
        clip_norm=None,
        clip_value=None,
        scoring=None,
        max_time=None,
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.weight_init = weight_init
        self.dropout = dropout
        self.dropout_kind = dropout_kind
        self.rho = rho
        self.weight_decay = weight_decay
        self.clip_norm = clip_norm
        self.clip_value = clip_value
        self.scoring = scoring
        self.max_time = max_time

    def _output_activation(self):
        return OUTPUT_ACTIVATION[self.loss]

    def _loss_name(self):
        return self.loss

    def _validate_input(self, X, y, incremental, reset, dtype, check_finite=True):
        plain = self._validate_plain(X, y, reset, dtype, check_finite)
        X, y = plain if plain is not None else validate_data(
            self, X, y, accept_sparse=["csr", "csc"], multi_output=True, y_numeric=True,
            dtype=dtype, order="C", reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        with np.errstate(over="ignore"):
            if not np.isfinite(np.asarray(y, dtype=dtype)).all():
                raise ValueError(
                    f"Input y contains infinity or a value too large for {np.dtype(dtype)!r}."
                )
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("Some value(s) of y are negative which is not allowed for"
                             " the 'poisson' loss.")
        return X, y

    def _validation_targets(self, y_val, dtype):
        y_val = np.asarray(y_val)
        if y_val.dtype.kind not in "biuf":
            raise ValueError(f"y_val must be numeric; got dtype {y_val.dtype}.")
        Y_val = y_val.astype(dtype)
        if not np.all(np.isfinite(Y_val)):
            raise ValueError("y_val contains NaN or infinity.")
        return Y_val

    def _output_scorer(self, y, sample_weight):
        """The R^2 of finite network outputs on the targets ``y``, as a function
        of the outputs: ``r2_score``'s (averaged over the outputs; 1 for an
        output predicted exactly, 0 for a constant one predicted otherwise),
        with its terms that depend on ``y`` alone computed once a fit."""
        Y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        weight = 1.0 if sample_weight is None else np.asarray(sample_weight)[:, None]
        spread = np.sum(weight * (Y - np.average(Y, axis=0, weights=sample_weight)) ** 2,
                        axis=0)

        def r2(output):
            error = np.sum(weight * (Y - output) ** 2, axis=0)
            scores = np.ones(len(error))
            fitted = (spread != 0) & (error != 0)
            scores[fitted] = 1 - error[fitted] / spread[fitted]
            scores[(error != 0) & (spread == 0)] = 0.0
            return float(np.mean(scores))

        return r2

    def predict(self, X):
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        self._check_is_fitted()
        y_pred = self._forward_pass_fast(X)
        return y_pred.ravel() if y_pred.shape[1] == 1 else y_pred

    @available_if(lambda est: est._check_solver())
    @with_callbacks
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch of the stochastic solver over the given data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)
