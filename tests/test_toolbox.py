"""The training toolbox: activations, dropout, optimizers, schedules, clipping,
class weights, label smoothing, initialisers, validation data and history."""

import pickle

import numpy as np
import pytest
from jitted import (
    activate_and_derive,
    bias_activate,
    dropout,
    multiply_derivative,
    scheduled_rate,
)
from sklearn.datasets import make_classification, make_regression
from small_problem import ALPHA, full_batch_steps, full_gradient, softmax_problem

from fastnn import MLPClassifier, MLPRegressor
from fastnn._activations import REGISTRY as ACTIVATIONS
from fastnn._engine import Data, EpochRunner, LossGradient
from fastnn._init import REGISTRY as INITIALIZERS
from fastnn._losses import LOSSES, OUTPUT_ACTIVATION, mean_loss
from fastnn._network import Network
from fastnn._noise import BERNOULLI, GAUSSIAN
from fastnn._optimizers import Optimizer
from fastnn._schedules import COSINE, ONECYCLE, warmup_steps

HIDDEN = [name for name, a in ACTIVATIONS.items() if a.hidden]
NEW_ACTIVATIONS = ["leaky_relu", "elu", "selu", "gelu", "silu", "mish", "softplus"]
Z_GRID = np.concatenate([np.linspace(-12, 12, 241), [-1e-3, 0.0, 1e-3, 30.0, -30.0]])


# ---------------------------------------------------------------------------
# activations: kernels against the registry's NumPy references
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("name", HIDDEN)
def test_activation_kernels_match_references(name, dtype, rtol):
    act = ACTIVATIONS[name]
    z = Z_GRID.astype(dtype)
    b = np.zeros(1, dtype=dtype)
    Z = z.reshape(-1, 1).copy()
    bias_activate(Z, b, act.code)
    expected = act.function(Z_GRID)
    np.testing.assert_allclose(Z[:, 0], expected, rtol=rtol, atol=rtol)
    # derivative: from the output, or stored by the forward pass of training
    expected_d = act.derivative(Z_GRID)
    atol = 10 * rtol if dtype == np.float32 else 1e-12
    if not act.from_output:  # the forward pass of training stores the derivative
        Z2, D = z.reshape(-1, 1).copy(), np.empty_like(Z)
        activate_and_derive(Z2, b, act.code, D)
        # the same value as prediction's pass, up to the rounding that
        # fast-math's reassociation may choose differently in each kernel
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(Z2, Z, rtol=2 * eps, atol=np.finfo(dtype).tiny)
        np.testing.assert_allclose(D[:, 0], expected_d, rtol=10 * rtol, atol=atol)
    else:  # the derivative taken from the output
        D = np.ones_like(Z)
        multiply_derivative(Z, D, act.code, np.zeros(1, dtype=dtype))
        np.testing.assert_allclose(D[:, 0], expected_d, rtol=10 * rtol, atol=atol)


def test_registry_is_complete_and_unknown_names_fail():
    codes = [a.code for a in ACTIVATIONS.values()]
    assert len(set(codes)) == len(codes)
    for name in NEW_ACTIVATIONS:
        assert ACTIVATIONS[name].hidden
    with pytest.raises(ValueError, match="Unknown activation 'swish'"):
        Network([2, 3, 1], "swish", "logistic", np.float64)


# ---------------------------------------------------------------------------
# gradients against central finite differences (float64)
# ---------------------------------------------------------------------------


def _problem(loss, n_out, rng, n=24, n_features=4):
    X = rng.normal(size=(n, n_features))
    if loss == "log_loss":
        Y = np.eye(n_out)[rng.randint(n_out, size=n)]
    elif loss == "binary_log_loss":
        Y = rng.randint(2, size=(n, n_out)).astype(float)
    elif loss == "poisson":
        Y = rng.poisson(1.0, size=(n, n_out)).astype(float)
    else:
        Y = rng.normal(size=(n, n_out))
    return X, Y


@pytest.mark.parametrize("rate", [0.0, 0.3])
@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("activation", NEW_ACTIVATIONS)
def test_gradient_matches_finite_differences(activation, loss, rate):
    rng = np.random.RandomState(hash((activation, loss)) % 2**31)
    n_out = 3 if loss == "log_loss" else 2
    X, Y = _problem(loss, n_out, rng)
    net = Network([4, 6, 5, n_out], [activation, "tanh"], OUTPUT_ACTIVATION[loss], np.float64,
                  dropout=[rate, rate], seed=7)
    net.theta[:] = rng.uniform(-0.6, 0.6, net.n_params)
    sw = rng.uniform(0.5, 2.0, len(X))
    fun = LossGradient(net, Data(X, Y, sw, np.float64), LOSSES[loss], 0.05, 1)
    theta = net.theta.copy()
    value, grad = fun(theta)
    h = 1e-6
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        numeric[i] = (fun(theta + e)[0] - fun(theta - e)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)
    if rate:
        # the mask is fixed: evaluations agree, and it does drop units
        assert fun(theta)[0] == value
        plain = Network(net.sizes, [activation, "tanh"], OUTPUT_ACTIVATION[loss], np.float64)
        plain.theta[:] = theta
        no_drop = LossGradient(plain, Data(X, Y, sw, np.float64), LOSSES[loss], 0.05, 1)
        assert no_drop(theta)[0] != value


# ---------------------------------------------------------------------------
# dropout masks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [BERNOULLI, GAUSSIAN])
def test_dropout_keeps_the_mean(kind):
    rate = 0.3
    A = np.ones((400, 250))
    G = np.full((400, 250), 2.0)
    rows = np.arange(400, dtype=np.int64)
    dropout(A, G, rows, rate, kind, 5, 11, 0)
    assert abs(A.mean() - 1.0) < 0.01
    np.testing.assert_array_equal(G, 2 * A)  # the same mask on the stored derivative
    if kind == BERNOULLI:
        assert abs((A == 0).mean() - rate) < 0.01
        assert np.all((A == 0) | np.isclose(A, 1 / (1 - rate)))
    else:
        assert abs(A.std() - np.sqrt(rate / (1 - rate))) < 0.01


def test_dropout_mask_is_a_function_of_seed_step_row_and_unit():
    def mask(rows, step=3, seed=1, layer=0):
        A = np.ones((len(rows), 64))
        dropout(A, A.copy(), np.asarray(rows, dtype=np.int64), 0.5, BERNOULLI, seed, step,
                layer)
        return A

    full = mask(range(10))
    np.testing.assert_array_equal(mask([7, 2]), full[[7, 2]])  # by row, wherever computed
    assert not np.array_equal(mask(range(10), step=4), full)
    assert not np.array_equal(mask(range(10), seed=2), full)
    assert not np.array_equal(mask(range(10), layer=1), full)


@pytest.mark.parametrize("kind", [BERNOULLI, GAUSSIAN])
@pytest.mark.parametrize("activation", HIDDEN)
def test_dropout_loss_matches_numpy_with_the_same_mask(activation, kind):
    """The training loss with dropout is the network's loss with the hidden
    outputs multiplied by the masks (drawn for update 1, as L-BFGS's gradient
    and ``LossGradient`` draw them)."""
    rng = np.random.RandomState(0)
    X, Y = _problem("squared_error", 2, rng, n=30)
    net = Network([4, 6, 2], activation, "identity", np.float64, dropout=0.4,
                  dropout_kind=["bernoulli", "gaussian"][kind], seed=3)
    net.theta[:] = rng.uniform(-0.6, 0.6, net.n_params)
    value, _ = LossGradient(net, Data(X, Y, None, np.float64), LOSSES["squared_error"], 0.0,
                            1)(net.theta.copy())
    mask = np.ones((30, 6))
    dropout(mask, mask.copy(), np.arange(30, dtype=np.int64), 0.4, kind, 3, 1, 0)
    (W1, W2), (b1, b2) = net.coefs, net.intercepts
    H = ACTIVATIONS[activation].function(X @ W1 + b1) * mask
    expected = mean_loss("squared_error", H @ W2 + b2, Y)
    assert value == pytest.approx(expected, rel=1e-12)


def test_prediction_never_drops():
    X, y = make_classification(200, 8, random_state=0)
    clf = MLPClassifier((16,), dropout=0.5, max_iter=5, random_state=0).fit(X, y)
    net = clf._net
    plain = Network(net.sizes, "relu", "logistic", net.theta.dtype)
    plain.theta[:] = net.theta
    from fastnn._engine import forward

    expected = forward(plain, Data(X, dtype=net.theta.dtype))[:, 0]
    np.testing.assert_array_equal(clf.predict_proba(X)[:, 1], expected)
    np.testing.assert_allclose(clf.predict_proba(X[:3])[:, 1], expected[:3], rtol=1e-6)


# ---------------------------------------------------------------------------
# optimizers and schedules against their formulas
# ---------------------------------------------------------------------------

LR, B1, B2, EPS, RHO, WD = 0.05, 0.8, 0.9, 1e-6, 0.7, 0.1


def _reference(solver, g_of, theta, n_coef, n_steps, lr=LR):
    """The optimizers' formulas, written out (module docstring of ``_optimizers``)."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    prod = 1.0
    for t in range(1, n_steps + 1):
        g = g_of(theta)
        rate = lr(t) if callable(lr) else lr
        if solver == "rmsprop":
            v = RHO * v + (1 - RHO) * g * g
            theta = theta - rate * g / (np.sqrt(v) + EPS)
        elif solver == "adagrad":
            v = v + g * g
            theta = theta - rate * g / (np.sqrt(v) + EPS)
        elif solver == "adamw":
            theta = theta.copy()
            theta[:n_coef] *= 1 - rate * WD
            m = B1 * m + (1 - B1) * g
            v = B2 * v + (1 - B2) * g * g
            theta = theta - rate / (1 - B1**t) * m / (np.sqrt(v / (1 - B2**t)) + EPS)
        elif solver == "nadam":
            mu = B1 * (1 - 0.5 * 0.96 ** (0.004 * t))
            mu_next = B1 * (1 - 0.5 * 0.96 ** (0.004 * (t + 1)))
            prod *= mu
            m = B1 * m + (1 - B1) * g
            v = B2 * v + (1 - B2) * g * g
            d = np.sqrt(v / (1 - B2**t)) + EPS
            theta = (theta - rate * (1 - mu) / (1 - prod) * g / d
                     - rate * mu_next / (1 - prod * mu_next) * m / d)
        elif solver == "adam":
            m = B1 * m + (1 - B1) * g
            v = B2 * v + (1 - B2) * g * g
            theta = theta - rate * np.sqrt(1 - B2**t) / (1 - B1**t) * m / (np.sqrt(v) + EPS)
        else:  # plain sgd
            theta = theta - rate * g
    return theta


def _optimizer(solver, net, **kw):
    return Optimizer(solver, net.n_params, np.float64, learning_rate_init=LR, beta_1=B1,
                     beta_2=B2, epsilon=EPS, rho=RHO, weight_decay=WD, momentum=0.0,
                     nesterov=False, **kw)


@pytest.mark.parametrize("solver", ["rmsprop", "adagrad", "adamw", "nadam"])
def test_optimizer_steps_match_formulas(solver):
    net, data = softmax_problem()
    theta = net.theta.copy()
    opt = _optimizer(solver, net)
    full_batch_steps(net, data, opt, 4)
    expected = _reference(solver, lambda th: full_gradient(net, data, th), theta,
                          net.n_penalised, 4)
    np.testing.assert_allclose(net.theta, expected, rtol=1e-10, atol=1e-12)
    assert opt.t == 4


# 'adam' is scikit-learn's Adam (epsilon added to the uncorrected sqrt(v)):
# test_optimizers checks it against scikit-learn's formula
@pytest.mark.parametrize("solver", ["sgd", "rmsprop", "adagrad", "adamw", "nadam"])
def test_optimizer_steps_match_torch(solver):
    torch = pytest.importorskip("torch")
    net, data = softmax_problem()
    theta0 = net.theta.copy()
    opt = _optimizer(solver, net)
    full_batch_steps(net, data, opt, 4)
    n = net.n_penalised
    kinds = {
        "sgd": lambda p: torch.optim.SGD(p, lr=LR),
        "rmsprop": lambda p: torch.optim.RMSprop(p, lr=LR, alpha=RHO, eps=EPS),
        "adagrad": lambda p: torch.optim.Adagrad(p, lr=LR, eps=EPS),
        "adamw": lambda p: torch.optim.AdamW(p, lr=LR, betas=(B1, B2), eps=EPS,
                                             weight_decay=WD),
        "nadam": lambda p: torch.optim.NAdam(p, lr=LR, betas=(B1, B2), eps=EPS),
    }
    weights = torch.tensor(theta0[:n], requires_grad=True)
    biases = torch.tensor(theta0[n:], requires_grad=True)
    groups = [{"params": [weights]}, {"params": [biases], "weight_decay": 0.0}]
    optimizer = kinds[solver](groups)
    for _ in range(4):
        theta = np.concatenate([weights.detach().numpy(), biases.detach().numpy()])
        g = torch.tensor(full_gradient(net, data, theta))
        weights.grad, biases.grad = g[:n].clone(), g[n:].clone()
        optimizer.step()
    expected = np.concatenate([weights.detach().numpy(), biases.detach().numpy()])
    # torch.optim keeps the step count as a float32 tensor: its bias
    # corrections differ from the float64 formula in the 8th digit
    np.testing.assert_allclose(net.theta, expected, rtol=1e-7, atol=1e-12)


def test_schedules_match_formulas():
    T = 100
    W = warmup_steps(T)
    for s in range(1, T + 3):
        assert scheduled_rate(COSINE, 0.1, T, W, s) == pytest.approx(
            0.05 * (1 + np.cos(np.pi * min(s - 1, T) / T)), abs=1e-15)
        start, end = 0.1 / 25, 0.1 / 25 / 1e4
        if s - 1 < W:
            expected = start + (0.1 - start) * (s - 1) / W
        else:
            p = min(1.0, (s - 1 - W) / (T - W))
            expected = end + (0.1 - end) * 0.5 * (1 + np.cos(np.pi * p))
        assert scheduled_rate(ONECYCLE, 0.1, T, W, s) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
def test_per_step_schedule_drives_the_updates(schedule):
    net, data = softmax_problem()
    theta = net.theta.copy()
    T = 6
    opt = _optimizer("sgd", net, learning_rate=schedule, total_steps=T)
    full_batch_steps(net, data, opt, 5)
    code = COSINE if schedule == "cosine" else ONECYCLE

    def rate(t):
        return scheduled_rate(code, LR, T, warmup_steps(T), t)

    expected = _reference("sgd", lambda th: full_gradient(net, data, th), theta, net.n_penalised, 5,
                          lr=rate)
    np.testing.assert_allclose(net.theta, expected, rtol=1e-10)
    assert opt.last_rate == pytest.approx(rate(5))


def test_invscaling_applies_to_adam():
    X, y = make_classification(300, 6, random_state=0)
    est = MLPClassifier((8,), solver="adam", learning_rate="invscaling", power_t=0.5,
                        learning_rate_init=0.01, max_iter=3, random_state=0).fit(X, y)
    assert est._optimizer.learning_rate == pytest.approx(0.01 / (est.t_ + 1) ** 0.5)
    assert est.history_["learning_rate"][-1] == pytest.approx(0.01 / (2 * 300 + 1) ** 0.5)


# ---------------------------------------------------------------------------
# clipping
# ---------------------------------------------------------------------------


def test_clip_norm_bounds_the_global_norm():
    net, data = softmax_problem()
    theta = net.theta.copy()
    g = full_gradient(net, data, theta)
    limit = 0.25 * np.linalg.norm(g)
    full_batch_steps(net, data, _optimizer("sgd", net, clip_norm=limit), 1)
    step = (theta - net.theta) / LR
    factor = limit / (np.linalg.norm(g) + 1e-6)  # PyTorch's clip_grad_norm_ factor
    assert np.linalg.norm(step) <= limit
    np.testing.assert_allclose(step, g * factor, rtol=1e-10)
    # a bound above the norm leaves the gradient as it is
    net2, data2 = softmax_problem()
    full_batch_steps(net2, data2, _optimizer("sgd", net2, clip_norm=2 * np.linalg.norm(g)), 1)
    np.testing.assert_allclose((theta - net2.theta) / LR, g, rtol=1e-10)


def test_clip_value_bounds_each_component():
    net, data = softmax_problem()
    theta = net.theta.copy()
    g = full_gradient(net, data, theta)
    limit = 0.5 * np.abs(g).max()
    full_batch_steps(net, data, _optimizer("sgd", net, clip_value=limit), 1)
    np.testing.assert_allclose((theta - net.theta) / LR, np.clip(g, -limit, limit),
                               rtol=1e-10)


# ---------------------------------------------------------------------------
# estimators: class weights, label smoothing, initialisers, n_jobs, pickling
# ---------------------------------------------------------------------------


def test_class_weight_equals_the_same_sample_weight():
    X, y = make_classification(300, 6, n_classes=3, n_informative=4, random_state=0)
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    a = MLPClassifier((8,), class_weight=weights, max_iter=5, random_state=0).fit(X, y)
    b = MLPClassifier((8,), max_iter=5, random_state=0).fit(
        X, y, sample_weight=np.array([weights[c] for c in y]))
    for ca, cb in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(ca, cb)
    counts = np.bincount(y)
    balanced = MLPClassifier((8,), class_weight="balanced", max_iter=5, random_state=0)
    balanced.fit(X, y)
    c = MLPClassifier((8,), max_iter=5, random_state=0).fit(
        X, y, sample_weight=(len(y) / (3 * counts))[y])
    np.testing.assert_allclose(balanced.coefs_[0], c.coefs_[0], rtol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_label_smoothing_trains_on_smoothed_targets(n_classes):
    X, y = make_classification(200, 5, n_classes=n_classes, n_informative=3, random_state=0)
    eps = 0.2
    clf = MLPClassifier((6,), solver="lbfgs", label_smoothing=eps, alpha=0.0, max_iter=50,
                        dtype="float64", random_state=0).fit(X, y)
    k = n_classes
    Y = np.eye(k)[y] if k > 2 else y.reshape(-1, 1).astype(float)
    smoothed = Y * (1 - eps) + eps / (k if k > 2 else 2)
    P = clf.predict_proba(X) if k > 2 else clf.predict_proba(X)[:, 1:]
    name = "log_loss" if k > 2 else "binary_log_loss"
    assert clf.loss_ == pytest.approx(mean_loss(name, P, smoothed), rel=1e-6)


@pytest.mark.parametrize("scheme", sorted(set(INITIALIZERS) - {"sklearn"}))
def test_initialisers_have_their_scale(scheme):
    X = np.random.RandomState(0).normal(size=(50, 400))
    y = np.arange(50) % 2
    clf = MLPClassifier((300,), weight_init=scheme, max_iter=1, learning_rate_init=1e-12,
                        random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    W = clf.coefs_[0].astype(np.float64)
    fan_in, fan_out = W.shape
    scale, dist = scheme.split("_")
    std = {"glorot": np.sqrt(2 / (fan_in + fan_out)), "he": np.sqrt(2) / np.sqrt(fan_in),
           "lecun": 1 / np.sqrt(fan_in)}[scale]
    assert W.std() == pytest.approx(std, rel=0.02)
    if dist == "uniform":
        assert np.abs(W).max() <= np.sqrt(3) * std * (1 + 1e-6)
    assert np.abs(clf.intercepts_[0]).max() < 1e-9


FEATURES = dict(activation=["gelu", "mish"], dropout=[0.2, 0.1], solver="nadam",
                clip_norm=1.0, learning_rate="onecycle", weight_init="he_normal")


def test_results_with_new_features_do_not_depend_on_n_jobs(monkeypatch):
    import numba

    from fastnn import _engine

    X, y = make_classification(2048, 40, random_state=0)
    lanes = []
    real = _engine.lane_buffers

    def spy(net, *sizes, **kw):
        out = real(net, *sizes, **kw)
        lanes.append(out[2].shape[0])
        return out

    monkeypatch.setattr(_engine, "lane_buffers", spy)
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 4)
    models = [MLPClassifier((64, 32), batch_size=256, max_iter=3, random_state=0, n_jobs=j,
                            **FEATURES).fit(X, y) for j in (1, 2)]
    assert min(lanes) > 1  # the batches really were split into lanes
    for a, b in zip(models[0].coefs_, models[1].coefs_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("activation", HIDDEN)
def test_each_activation_round_trips_through_pickle(activation):
    X, y = make_regression(100, 5, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(7,), activation=activation, max_iter=3,
                       random_state=0).fit(X, y)
    loaded = pickle.loads(pickle.dumps(reg))
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    assert list(loaded._net.acts[:-1]) == [ACTIVATIONS[activation].code]


# ---------------------------------------------------------------------------
# validation data, history, scoring, max_time
# ---------------------------------------------------------------------------


def _split_data():
    X, y = make_classification(600, 10, random_state=0)
    return X[:450], y[:450], X[450:], y[450:]


def test_history_records_every_epoch():
    X, y, X_val, y_val = _split_data()
    clf = MLPClassifier((16,), max_iter=6, n_iter_no_change=100, random_state=0)
    with pytest.warns(Warning):
        clf.fit(X, y, X_val=X_val, y_val=y_val)
    h = clf.history_
    assert set(h) == {"loss", "val_loss", "val_score", "learning_rate", "time"}
    assert all(len(v) == 6 for v in h.values())
    assert h["loss"] == clf.loss_curve_
    out = clf.predict_proba(X_val)[:, 1]
    assert h["val_score"][-1] == pytest.approx(clf.score(X_val, y_val))
    assert h["val_loss"][-1] == pytest.approx(
        mean_loss("binary_log_loss", out.reshape(-1, 1), y_val.reshape(-1, 1)), rel=1e-5)
    assert all(t > 0 for t in h["time"])


@pytest.mark.parametrize("scoring", [None, "loss", "neg_log_loss", "balanced_accuracy"])
def test_early_stopping_on_given_validation_data_restores_the_best(scoring):
    X, y, X_val, y_val = _split_data()
    clf = MLPClassifier((32,), early_stopping=True, scoring=scoring, n_iter_no_change=3,
                        learning_rate_init=0.05, max_iter=200, random_state=0)
    clf.fit(X, y, X_val=X_val, y_val=y_val)
    scores = clf.validation_scores_
    assert clf.n_iter_ < 200 and len(scores) == clf.n_iter_
    assert clf.best_validation_score_ == max(scores)
    best = int(np.argmax(scores))
    h = clf.history_
    final = {None: clf.score(X_val, y_val), "loss": -h["val_loss"][best]}
    if scoring in final:
        assert final[scoring] == pytest.approx(clf.best_validation_score_, rel=1e-5)


def test_max_time_stops_between_epochs():
    X, y = make_classification(4000, 20, random_state=0)
    clf = MLPClassifier((64,), max_iter=10_000, max_time=0.3, tol=0, random_state=0)
    clf.fit(X, y)
    assert 1 <= clf.n_iter_ < 10_000
    assert sum(clf.history_["time"]) < 3.0


@pytest.mark.parametrize("params, match", [
    (dict(dropout=-0.1), "dropout"),
    (dict(dropout=1.0), "dropout"),
    (dict(dropout=[0.1, 0.2]), "dropout has 2 entries for 1 hidden"),
    (dict(activation="swish"), "activation"),
    (dict(activation=["relu", "gelu"]), "activation has 2 entries"),
    (dict(solver="adamax"), "solver"),
    (dict(weight_init="orthogonal"), "weight_init"),
    (dict(learning_rate="cyclic"), "learning_rate"),
    (dict(dropout_kind="alpha"), "dropout_kind"),
    (dict(clip_norm=0.0), "clip_norm"),
    (dict(label_smoothing=1.0), "label_smoothing"),
    (dict(class_weight="auto"), "class_weight"),
    (dict(solver="lbfgs", dropout=0.2), "dropout needs a stochastic solver"),
])
def test_bad_values_name_the_parameter(params, match):
    X, y = make_classification(60, 4, random_state=0)
    clf = MLPClassifier((5,), max_iter=2, **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "coefs_")


def test_bad_validation_data():
    X, y, X_val, y_val = _split_data()
    clf = MLPClassifier((5,), max_iter=2)
    with pytest.raises(ValueError, match="features"):
        clf.fit(X, y, X_val=X_val[:, :5], y_val=y_val)
    with pytest.raises(ValueError, match=r"y_val has classes \[7\]"):
        clf.fit(X, y, X_val=X_val, y_val=np.where(y_val == 1, 7, 0))
    with pytest.raises(ValueError, match="together"):
        clf.fit(X, y, X_val=X_val)
    with pytest.raises(ValueError, match="stochastic solver"):
        MLPClassifier((5,), solver="lbfgs").fit(X, y, X_val=X_val, y_val=y_val)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_basic_and_full_kernels_give_the_same_model(solver, monkeypatch):
    """A model of scikit-learn's recipe runs the basic kernels; the full
    ones, forced here, must train and predict it identically."""
    from fastnn import _engine

    X, y = make_classification(500, 10, n_classes=3, n_informative=5, random_state=0)
    params = dict(hidden_layer_sizes=(32, 16), solver=solver, max_iter=5, random_state=0,
                  learning_rate="invscaling" if solver == "sgd" else "constant")
    basic = MLPClassifier(**params).fit(X, y)
    monkeypatch.setattr(_engine, "_full", lambda needed: True)
    full = MLPClassifier(**params).fit(X, y)
    for a, b in zip(basic.coefs_ + basic.intercepts_, full.coefs_ + full.intercepts_):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(full.predict_proba(X), basic.predict_proba(X))
    np.testing.assert_array_equal(full.predict_proba(X[:3]), basic.predict_proba(X[:3]))


def test_epoch_hook_sees_each_epoch_and_can_stop():
    from fastnn._engine import TrainingLog, fit_stochastic

    net, data = softmax_problem()
    runner = EpochRunner(net, data, _optimizer("adam", net), LOSSES["log_loss"], ALPHA, 8, 1)
    log = TrainingLog(False, net.theta)
    seen = []

    def hook(log):
        seen.append((log.n_iter, log.loss))
        return log.n_iter == 3

    fit_stochastic(runner, log, shuffle=True, rng=np.random.RandomState(0), max_iter=50,
                   tol=0.0, n_iter_no_change=100, incremental=False, verbose=False,
                   on_epoch_end=hook)
    assert log.stopped == "epoch hook" and log.n_iter == 3
    assert seen == list(zip([1, 2, 3], log.loss_curve))
    assert log.history["loss"] == log.loss_curve and len(log.history["time"]) == 3
