"""Behaviour of MLPClassifier and MLPRegressor as estimators.

Where fastnn claims scikit-learn's semantics (stopping rules, learning-rate
schedules, early-stopping split, shuffling, fitted attributes), the tests
compare with scikit-learn's own MLP run at the same settings in float64: the
two then follow the same trajectory up to rounding.
"""

import io
import itertools
import re
import warnings
from contextlib import redirect_stdout

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, mean_poisson_deviance, r2_score
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.neural_network import MLPRegressor as SkMLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastnn import MLPClassifier, MLPRegressor

SKLEARN_TWIN = {MLPClassifier: SkMLPClassifier, MLPRegressor: SkMLPRegressor}


def _sklearn_twin(estimator):
    """scikit-learn's MLP with the same parameters (minus fastnn's extras)."""
    twin = SKLEARN_TWIN[type(estimator)]
    known = twin().get_params()
    params = {k: v for k, v in estimator.get_params().items() if k in known}
    return twin(**params)


# ---------------------------------------------------------------------------
# partial_fit
# ---------------------------------------------------------------------------


def test_partial_fit_classifier_requires_classes_on_first_call(make_data):
    X, y = make_data(MLPClassifier)
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "coefs_")
    clf.partial_fit(X, y, classes=np.unique(y))
    clf.partial_fit(X, y)  # classes may be left out afterwards
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


def test_partial_fit_classifier_classes_from_first_call(make_data):
    # The first batch sees only two of the three classes.
    X, y = make_data(MLPClassifier)
    first = y != 2
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    clf.partial_fit(X[first], y[first], classes=[0, 1, 2])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.predict_proba(X).shape == (len(X), 3)
    assert clf.n_outputs_ == 3
    clf.partial_fit(X, y)


def test_partial_fit_classifier_rejects_changed_or_unseen_classes(make_data):
    X, y = make_data(MLPClassifier)
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="is not the same as on last call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit(X, np.where(y == 2, 7, y))


def test_repeated_partial_fit_improves_loss(Estimator, data):
    X, y = data
    est = Estimator(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    kw = {"classes": np.unique(y)} if Estimator is MLPClassifier else {}
    est.partial_fit(X, y, **kw)
    first_loss, first_score = est.loss_, est.score(X, y)
    for _ in range(29):
        est.partial_fit(X, y)
    assert est.loss_ < 0.7 * first_loss
    assert est.score(X, y) > first_score
    assert len(est.loss_curve_) == 30
    assert est.t_ == 30 * len(X)
    assert est.n_iter_ == 1  # as in scikit-learn: one epoch per call


def test_partial_fit_matches_fit_without_shuffle(Estimator, data, assert_same_model):
    # partial_fit keeps the Adam state between calls, so k calls over the same
    # unshuffled data are k epochs of fit.
    X, y = data
    params = {"hidden_layer_sizes": (8,), "shuffle": False, "random_state": 0,
              "dtype": "float64", "tol": 0.0, "n_iter_no_change": np.inf}
    kw = {"classes": np.unique(y)} if Estimator is MLPClassifier else {}
    inc = Estimator(**params)
    for _ in range(5):
        inc.partial_fit(X, y, **kw)
    with pytest.warns(ConvergenceWarning):
        full = Estimator(max_iter=5, **params).fit(X, y)
    assert_same_model(inc, full, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(inc.loss_curve_, full.loss_curve_, rtol=1e-10)


def test_partial_fit_keeps_its_runner_only_while_it_fits(Estimator, data, assert_same_model):
    # Consecutive partial_fit calls share one runner (workspaces and kernels);
    # the weights are those of calls that each make their own, also when a
    # call changes the batch size or the data's length, and fit drops it.
    X, y = data
    kw = {"classes": np.unique(y)} if Estimator is MLPClassifier else {}
    params = {"hidden_layer_sizes": (8,), "random_state": 0, "batch_size": 32}
    shared, fresh = Estimator(**params), Estimator(**params)
    calls = [(X, y, {}), (X, y, {}), (X[:100], y[:100], {}), (X, y, {"batch_size": 50}),
             (X, y, {})]
    runners = []
    for i, (Xc, yc, changes) in enumerate(calls):
        for est in (shared, fresh):
            est.set_params(**changes)
            est.partial_fit(Xc, yc, **(kw if i == 0 else {}))
        runners.append(shared._runner)
        assert shared._runner.data is None  # the caller's data is not kept alive
        del fresh._runner
        assert_same_model(shared, fresh, X)
    assert runners[1] is runners[0]
    assert runners[2] is not runners[1]  # 100 rows: a last batch of another size
    assert runners[3] is not runners[2] and runners[4] is runners[3]
    assert "_runner" not in shared.__getstate__()
    shared.set_params(max_iter=2)
    with pytest.warns(ConvergenceWarning):
        shared.fit(X, y)
    assert not hasattr(shared, "_runner")


# ---------------------------------------------------------------------------
# warm_start
# ---------------------------------------------------------------------------


def test_warm_start_continues_from_previous_weights(Estimator, data, assert_same_model):
    # Plain SGD without momentum or shuffling has no state besides the
    # weights: 3 + 2 warm-started epochs are the same as 5 epochs.
    X, y = data
    params = {"hidden_layer_sizes": (8,), "solver": "sgd", "momentum": 0.0, "shuffle": False,
              "learning_rate_init": 0.05, "random_state": 0, "dtype": "float64", "tol": 0.0,
              "n_iter_no_change": np.inf}
    warm = Estimator(warm_start=True, max_iter=3, **params).fit(X, y)
    warm.set_params(max_iter=2).fit(X, y)
    straight = Estimator(max_iter=5, **params).fit(X, y)
    assert_same_model(warm, straight, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(warm.loss_curve_, straight.loss_curve_, rtol=1e-10)

    # Without warm_start, the second fit starts over from the initialisation.
    cold = Estimator(warm_start=False, max_iter=3, **params).fit(X, y)
    cold.set_params(max_iter=2).fit(X, y)
    fresh = Estimator(max_iter=2, **params).fit(X, y)
    assert_same_model(cold, fresh, rtol=1e-12, atol=0)
    assert len(cold.loss_curve_) == 2


def test_warm_start_adam_starts_near_previous_loss(make_data):
    X, y = make_data(MLPClassifier)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, warm_start=True,
                        random_state=0).fit(X, y)
    loss_after_first = clf.loss_curve_[-1]
    clf.fit(X, y)
    assert len(clf.loss_curve_) == 60
    # the first epoch of the second fit is nowhere near the initial loss
    assert clf.loss_curve_[30] < 0.5 * (clf.loss_curve_[0] + loss_after_first)
    assert clf.loss_curve_[30] < clf.loss_curve_[0]


def test_warm_start_with_other_classes_raises(make_data):
    X, y = make_data(MLPClassifier)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, warm_start=True,
                        random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
        clf.fit(X, np.where(y == 2, 1, y))
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
        clf.fit(X, np.where(y == 2, 5, y))


def test_warm_start_with_other_layer_sizes_raises(make_data):
    X, y = make_data(MLPClassifier)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, warm_start=True,
                        random_state=0).fit(X, y)
    clf.set_params(hidden_layer_sizes=(9,))
    with pytest.raises(ValueError, match="layer sizes"):
        clf.fit(X, y)


# ---------------------------------------------------------------------------
# Early stopping
# ---------------------------------------------------------------------------


def _early_stopping_problem(make_data, kind, n_samples=300):
    if kind == "regression":
        return MLPRegressor, *make_data(MLPRegressor, n_samples=n_samples)
    n_classes = 2 if kind == "binary" else 3
    return MLPClassifier, *make_data(MLPClassifier, n_samples=n_samples, n_classes=n_classes)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_early_stopping_attributes(kind, make_data):
    Estimator, X, y = _early_stopping_problem(make_data, kind)
    tol, patience = 1e-4, 5
    est = Estimator(hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=patience,
                    tol=tol, learning_rate_init=0.01, max_iter=500, random_state=0).fit(X, y)
    assert est.best_loss_ is None
    assert isinstance(est.validation_scores_, list)
    assert len(est.validation_scores_) == est.n_iter_ == len(est.loss_curve_)
    assert max(est.validation_scores_) == est.best_validation_score_
    # it stopped by the rule on validation scores, at the first epoch where
    # more than n_iter_no_change epochs in a row failed to beat best + tol
    assert est.n_iter_ < 500
    best, count = -np.inf, 0
    for epoch, score in enumerate(est.validation_scores_, start=1):
        count = count + 1 if score < best + tol else 0
        best = max(best, score)
        if count > patience:
            break
    assert epoch == est.n_iter_

    plain = Estimator(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    with pytest.warns(ConvergenceWarning):
        plain.fit(X, y)
    assert plain.validation_scores_ is None
    assert plain.best_validation_score_ is None
    assert plain.best_loss_ == min(plain.loss_curve_)


def _validation_split(X, y, hidden, n_outputs, random_state, stratify,
                      validation_fraction=0.1):
    """The held-out split of early stopping: the generator continues after the
    Glorot draws (weights then intercepts, layer by layer), as in scikit-learn,
    which stratifies only single-output classification (binary y)."""
    rng = np.random.RandomState(random_state)
    units = [X.shape[1], *hidden, n_outputs]
    for fan_in, fan_out in itertools.pairwise(units):
        rng.uniform(size=(fan_in, fan_out))
        rng.uniform(size=fan_out)
    return train_test_split(X, y, random_state=rng, test_size=validation_fraction,
                            stratify=y if stratify else None)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_early_stopping_restores_best_weights(kind, make_data):
    Estimator, X, y = _early_stopping_problem(make_data, kind)
    est = Estimator(hidden_layer_sizes=(16,), early_stopping=True, n_iter_no_change=5,
                    learning_rate_init=0.01, max_iter=500, random_state=0,
                    dtype="float64").fit(X, y)
    _, X_val, _, y_val = _validation_split(X, y, (16,), est.n_outputs_, 0,
                                           stratify=kind == "binary")
    # the final model is the best one seen, not the last one
    assert est.score(X_val, y_val) == pytest.approx(est.best_validation_score_, abs=1e-12)
    if kind == "regression":  # R^2 has no ties: the last epoch was worse
        assert est.validation_scores_[-1] < est.best_validation_score_
        assert est.score(X_val, y_val) != pytest.approx(est.validation_scores_[-1], abs=1e-9)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_early_stopping_matches_sklearn(kind, make_data, assert_same_model):
    Estimator, X, y = _early_stopping_problem(make_data, kind)
    est = Estimator(hidden_layer_sizes=(8,), early_stopping=True, n_iter_no_change=3,
                    learning_rate_init=0.01, max_iter=300, random_state=0, dtype="float64")
    ref = _sklearn_twin(est)
    est.fit(X, y)
    ref.fit(X, y)
    assert est.n_iter_ == ref.n_iter_
    np.testing.assert_allclose(est.validation_scores_, ref.validation_scores_, rtol=1e-9)
    assert est.best_validation_score_ == pytest.approx(ref.best_validation_score_, rel=1e-9)
    assert_same_model(est, ref, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression",
                                  "multi-output regression"])
def test_validation_scores_are_accuracy_and_r2(kind, weighted):
    # the epoch's validation score of the network outputs, against scikit-learn's metrics
    rng = np.random.default_rng(0)
    n = 60
    sw = rng.uniform(0.5, 2.0, n) if weighted else None
    if kind == "regression" or kind == "multi-output regression":
        n_outputs = 1 if kind == "regression" else 3
        X, y = rng.normal(size=(n, 4)), rng.normal(size=(n, n_outputs)).squeeze()
        est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=1).fit(X, y)
        outputs = [rng.normal(size=(n, n_outputs))]
        if n_outputs > 1:
            y[:, 1] = 2.0  # constant: R^2 1 where predicted exactly, else 0
            exact = outputs[0].copy()
            exact[:, 1] = 2.0
            outputs.append(exact)
        score = est._output_scorer(y, sw)
        for output in outputs:
            expected = r2_score(y, output.squeeze(), sample_weight=sw)
            assert score(output) == pytest.approx(expected, rel=1e-12)
        return
    X = rng.normal(size=(n, 4))
    if kind == "multilabel":
        y = rng.integers(0, 2, size=(n, 3))
        n_outputs = 3
    else:
        names = np.array(["ant", "bee", "cat", "dog"][:2 if kind == "binary" else 4])
        y = names[rng.integers(0, len(names), n)]
        n_outputs = 1 if kind == "binary" else len(names)
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=1).fit(X, y)
    output = rng.uniform(size=(n, n_outputs))
    score = est._output_scorer(y, sw)
    assert score(output) == accuracy_score(y, est._labels(output), sample_weight=sw)
    assert 0 < score(output) < 1


# ---------------------------------------------------------------------------
# Learning-rate schedules and stopping rules
# ---------------------------------------------------------------------------


def test_adaptive_learning_rate_divides_by_five(make_data):
    X, y = make_data(MLPClassifier)
    # tol so large that no epoch counts as an improvement: after every
    # n_iter_no_change + 1 epochs the rate is divided by 5, until <= 1e-6.
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate="adaptive",
                        learning_rate_init=0.01, tol=1e3, n_iter_no_change=2,
                        max_iter=200, shuffle=False, random_state=0, dtype="float64",
                        verbose=True)
    out = io.StringIO()
    with redirect_stdout(out):
        clf.fit(X, y)
    text = out.getvalue()
    rates = [float(r) for r in re.findall(r"Setting learning rate to ([0-9.]+)", text)]
    # printed with %f: six decimals
    np.testing.assert_allclose(rates, [0.01 / 5**k for k in range(1, 7)], atol=1e-6)
    assert "Learning rate too small. Stopping." in text
    assert clf._optimizer.learning_rate == pytest.approx(0.01 / 5**6)
    # epoch 1 sets the best loss, then 3 epochs per division, 7 triggers in all
    assert clf.n_iter_ == 1 + 3 * 7

    ref = _sklearn_twin(clf).set_params(verbose=False).fit(X, y)
    assert clf.n_iter_ == ref.n_iter_
    assert clf._optimizer.learning_rate == pytest.approx(ref._optimizer.learning_rate)
    np.testing.assert_allclose(clf.loss_curve_, ref.loss_curve_, rtol=1e-9)


def test_invscaling_learning_rate(Estimator, data, assert_same_model):
    X, y = data
    est = Estimator(hidden_layer_sizes=(8,), solver="sgd", learning_rate="invscaling",
                    learning_rate_init=0.2, power_t=0.4, max_iter=12, shuffle=False,
                    random_state=0, dtype="float64").fit(X, y)
    assert est.t_ == 12 * len(X)
    assert est._optimizer.learning_rate == pytest.approx(0.2 / (est.t_ + 1) ** 0.4)
    ref = _sklearn_twin(est).fit(X, y)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-9)
    assert_same_model(est, ref, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_convergence_warning_at_max_iter(solver, make_data):
    X, y = make_data(MLPClassifier)
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=3, random_state=0)
    pattern = "lbfgs failed to converge" if solver == "lbfgs" else "Maximum iterations \\(3\\)"
    with pytest.warns(ConvergenceWarning, match=pattern):
        clf.fit(X, y)
    assert clf.n_iter_ == 3


@pytest.mark.parametrize("n_iter_no_change", [2, 6])
def test_n_iter_no_change_stops_training(n_iter_no_change, make_data):
    X, y = make_data(MLPClassifier)
    clf = MLPClassifier(hidden_layer_sizes=(8,), tol=1e3, n_iter_no_change=n_iter_no_change,
                        max_iter=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.n_iter_ == n_iter_no_change + 2
    # with tol=0 and no patience limit, it runs to max_iter
    clf.set_params(tol=0.0, n_iter_no_change=np.inf, max_iter=15)
    with pytest.warns(ConvergenceWarning):
        clf.fit(X, y)
    assert clf.n_iter_ == 15


def test_n_iter_no_change_matches_sklearn(make_data):
    X, y = make_data(MLPRegressor)
    reg = MLPRegressor(hidden_layer_sizes=(8,), tol=1e-2, n_iter_no_change=4, max_iter=500,
                       learning_rate_init=0.01, shuffle=False, random_state=0,
                       dtype="float64")
    ref = _sklearn_twin(reg)
    reg.fit(X, y)
    ref.fit(X, y)
    assert reg.n_iter_ == ref.n_iter_ < 500
    np.testing.assert_allclose(reg.loss_curve_, ref.loss_curve_, rtol=1e-9)
    assert reg.best_loss_ == pytest.approx(ref.best_loss_, rel=1e-9)


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_shuffled_training_matches_sklearn(Estimator, solver, data, assert_same_model):
    # Same Glorot draws, same per-epoch permutations (scikit-learn permutes the
    # previous epoch's order), same updates: same trajectory in float64.
    X, y = data
    est = Estimator(hidden_layer_sizes=(8,), solver=solver, batch_size=32, max_iter=8,
                    learning_rate_init=0.01, random_state=0, dtype="float64")
    ref = _sklearn_twin(est)
    est.fit(X, y)
    ref.fit(X, y)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-9)
    assert_same_model(est, ref, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------
# Multi-label and multi-output
# ---------------------------------------------------------------------------


def test_multilabel_classification():
    X, Y = make_multilabel_classification(n_samples=150, n_features=8, n_classes=3,
                                          random_state=0)
    clf = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(16,), max_iter=300,
                        random_state=0).fit(X, Y)
    pred = clf.predict(X)
    assert pred.shape == Y.shape
    assert set(np.unique(pred)) <= {0, 1}
    assert (pred == Y).mean() > 0.9
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape
    assert np.all((proba >= 0) & (proba <= 1))
    # independent labels: rows need not sum to one
    assert not np.allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    assert clf.out_activation_ == "logistic"
    assert clf.n_outputs_ == 3
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


def test_multilabel_partial_fit_without_classes():
    X, Y = make_multilabel_classification(n_samples=100, n_features=8, n_classes=4,
                                          random_state=0)
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    clf.partial_fit(X, Y)
    clf.partial_fit(X, Y)
    assert clf.predict(X).shape == Y.shape


def test_multi_output_regression(make_data):
    X, Y = make_data(MLPRegressor, n_targets=3)
    reg = MLPRegressor(solver="lbfgs", hidden_layer_sizes=(16,), max_iter=300,
                       random_state=0).fit(X, Y)
    pred = reg.predict(X)
    assert pred.shape == Y.shape
    assert reg.n_outputs_ == 3
    assert reg.score(X, Y) > 0.95
    # a single-column 2-D y gives 1-D predictions, as in scikit-learn
    reg1 = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    with pytest.warns(Warning):  # DataConversionWarning (column-vector y)
        reg1.fit(X, Y[:, :1])
    assert reg1.predict(X).shape == (len(X),)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_multi_output_loss_sums_over_outputs(solver, make_data):
    # fastnn's loss_ is 0.5 * mean over samples of the SUM over outputs of the
    # squared error, plus alpha/2 * ||W||^2 / n_samples, so that it matches its
    # gradient (scikit-learn divides the data term by n_outputs, issue #8349).
    X, Y = make_data(MLPRegressor, n_targets=3)
    alpha = 0.3
    reg = MLPRegressor(solver=solver, hidden_layer_sizes=(8,), alpha=alpha, max_iter=30,
                       random_state=0, dtype="float64", batch_size=len(X))
    if solver == "adam":
        # the epoch loss is taken during the epoch; one more epoch with a
        # vanishing step size leaves the weights where they were
        reg.fit(X, Y)
        reg.set_params(warm_start=True, max_iter=1, learning_rate_init=1e-300)
        reg.fit(X, Y)
    else:
        reg.fit(X, Y)
    residual = Y - reg.predict(X)
    data_term = 0.5 * np.mean(np.sum(residual**2, axis=1))
    l2 = 0.5 * alpha * sum(np.sum(W**2) for W in reg.coefs_) / len(X)
    assert reg.loss_ == pytest.approx(data_term + l2, rel=1e-9)
    assert reg.loss_ != pytest.approx(data_term / 3 + l2, rel=1e-3)


# ---------------------------------------------------------------------------
# Sample weights, precision
# ---------------------------------------------------------------------------


def test_zero_sample_weight_equals_dropping_samples_lbfgs(Estimator, make_data, assert_same_model):
    # The rows split into other lanes, whose partial sums round differently;
    # L-BFGS amplifies that over many iterations, so compare after 50.
    X, y = make_data(Estimator, n_samples=120)
    sw = np.random.RandomState(0).randint(0, 4, size=len(X)).astype(float)
    assert (sw == 0).sum() > 10
    params = {"solver": "lbfgs", "hidden_layer_sizes": (8,), "alpha": 1e-2, "max_iter": 50,
              "random_state": 0, "dtype": "float64"}
    weighted = Estimator(**params).fit(X, y, sample_weight=sw)
    dropped = Estimator(**params).fit(X[sw > 0], y[sw > 0], sample_weight=sw[sw > 0])
    assert_same_model(weighted, dropped, rtol=1e-8, atol=1e-10)


def test_integer_sample_weight_equals_repeating_samples_lbfgs(Estimator, make_data):
    # The two objectives are identical; L-BFGS on a non-convex loss amplifies
    # rounding differences over many iterations, so compare after 50.
    X, y = make_data(Estimator, n_samples=120)
    sw = np.random.RandomState(0).randint(0, 4, size=len(X))
    params = {"solver": "lbfgs", "hidden_layer_sizes": (8,), "alpha": 1e-2, "max_iter": 50,
              "random_state": 0, "dtype": "float64"}
    weighted = Estimator(**params).fit(X, y, sample_weight=sw)
    repeated = Estimator(**params).fit(np.repeat(X, sw, axis=0), np.repeat(y, sw, axis=0))
    assert weighted.loss_ == pytest.approx(repeated.loss_, rel=1e-8)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-6, atol=1e-8)
    # and the weights matter: unweighted fit is a different model
    unweighted = Estimator(**params).fit(X, y)
    assert not np.allclose(unweighted.coefs_[0], weighted.coefs_[0], atol=1e-3)


def test_unit_sample_weight_equals_none(Estimator, data, assert_same_model):
    X, y = data
    params = {"hidden_layer_sizes": (8,), "max_iter": 10, "random_state": 0, "dtype": "float64"}
    a = Estimator(**params).fit(X, y)
    b = Estimator(**params).fit(X, y, sample_weight=np.ones(len(X)))
    assert_same_model(a, b, rtol=1e-12, atol=1e-14)


def test_dtype_float32_vs_float64(Estimator, data, assert_same_model):
    X, y = data
    m32 = Estimator(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, y)
    m64 = Estimator(hidden_layer_sizes=(8,), max_iter=20, random_state=0,
                    dtype="float64").fit(X, y)
    assert m32.dtype == "float32"  # the default
    for arrays, dtype in [(m32.coefs_ + m32.intercepts_, np.float32),
                          (m64.coefs_ + m64.intercepts_, np.float64)]:
        assert all(a.dtype == dtype for a in arrays)
    assert_same_model(m32, m64, rtol=1e-3, atol=1e-4)
    if Estimator is MLPClassifier:
        np.testing.assert_allclose(m32.predict_proba(X), m64.predict_proba(X), atol=1e-4)
        assert (m32.predict(X) == m64.predict(X)).mean() > 0.98
    else:
        np.testing.assert_allclose(m32.predict(X), m64.predict(X), rtol=1e-4, atol=1e-4)
    # float32 input to a float64 model and vice versa
    m64_from32 = Estimator(hidden_layer_sizes=(8,), max_iter=20, random_state=0,
                           dtype=np.float64).fit(X.astype(np.float32), y)
    assert m64_from32.coefs_[0].dtype == np.float64


# ---------------------------------------------------------------------------
# scikit-learn tooling
# ---------------------------------------------------------------------------


def _cancer_subset():
    X, y = load_breast_cancer(return_X_y=True)
    return X[::2], y[::2]  # 285 samples, unscaled features


def test_pipeline_with_standard_scaler():
    X, y = _cancer_subset()
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, stratify=y, random_state=0)
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0))
    pipe.fit(X_tr, y_tr)
    assert pipe.score(X_te, y_te) > 0.9
    assert pipe.predict_proba(X_te).shape == (len(X_te), 2)


def test_grid_search_over_alpha_and_hidden_layer_sizes():
    X, y = _cancer_subset()
    grid = {"mlpclassifier__alpha": [1e-4, 1.0],
            "mlpclassifier__hidden_layer_sizes": [(4,), (8,)]}
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier(max_iter=100, random_state=0))
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_score_ > 0.9
    best = search.best_estimator_[-1]
    assert best.alpha == search.best_params_["mlpclassifier__alpha"]
    assert best.coefs_[0].shape == (X.shape[1], best.hidden_layer_sizes[0])


def test_cross_val_score(Estimator, make_data):
    if Estimator is MLPClassifier:
        X, y = _cancer_subset()
        X = StandardScaler().fit_transform(X)
    else:
        X, y = make_data(MLPRegressor, n_samples=200)
    est = Estimator(hidden_layer_sizes=(16,), solver="lbfgs", max_iter=200, random_state=0)
    scores = cross_val_score(est, X, y, cv=3)
    assert scores.shape == (3,)
    assert scores.min() > 0.9
    ref = cross_val_score(_sklearn_twin(est), X, y, cv=3)
    assert scores.mean() > ref.mean() - 0.03


# ---------------------------------------------------------------------------
# Fitted attributes against scikit-learn's MLP
# ---------------------------------------------------------------------------


def _targets(kind):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 5))
    if kind == "binary":
        return MLPClassifier, X, np.array(["no", "yes"])[(X[:, 0] > 0).astype(int)], "logistic"
    if kind == "multiclass":
        return MLPClassifier, X, rng.randint(0, 4, size=60), "softmax"
    if kind == "multilabel":
        return MLPClassifier, X, (rng.uniform(size=(60, 3)) < 0.5).astype(int), "logistic"
    if kind == "regression":
        return MLPRegressor, X, X @ rng.normal(size=5), "identity"
    if kind == "multioutput":
        return MLPRegressor, X, X @ rng.normal(size=(5, 2)), "identity"
    if kind == "poisson":
        return MLPRegressor, X, rng.poisson(2.0, size=60).astype(float), "exp"
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind", ["binary", "multiclass", "multilabel", "regression", "multioutput", "poisson"]
)
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_fitted_attributes_match_sklearn(kind, solver):
    Estimator, X, y, out_activation = _targets(kind)
    params = {"hidden_layer_sizes": (7, 4), "max_iter": 5, "solver": solver, "random_state": 0}
    if kind == "poisson":
        params["loss"] = "poisson"
    est = Estimator(**params).fit(X, y)
    ref = _sklearn_twin(est).fit(X, y)
    assert est.out_activation_ == ref.out_activation_ == out_activation
    assert est.n_layers_ == ref.n_layers_ == 4
    assert est.n_outputs_ == ref.n_outputs_
    assert est.n_features_in_ == ref.n_features_in_ == 5
    assert [c.shape for c in est.coefs_] == [c.shape for c in ref.coefs_]
    assert [b.shape for b in est.intercepts_] == [b.shape for b in ref.intercepts_]
    assert est.n_iter_ == ref.n_iter_
    assert np.isfinite(est.loss_)
    assert est.predict(X).shape == ref.predict(X).shape
    if Estimator is MLPClassifier:
        np.testing.assert_array_equal(est.classes_, ref.classes_)
        assert est.predict_proba(X).shape == ref.predict_proba(X).shape
        assert est.predict(X).dtype == ref.predict(X).dtype
    for attr in ("loss_curve_", "best_loss_", "validation_scores_", "t_"):
        assert hasattr(est, attr) == hasattr(ref, attr), attr
    if solver == "adam":
        assert est.t_ == ref.t_
        assert len(est.loss_curve_) == len(ref.loss_curve_)
        assert est.best_loss_ == min(est.loss_curve_)
    # same Glorot initialisation as scikit-learn: after 5 epochs the weights
    # are still close to scikit-learn's
    for a, b in zip(est.coefs_, ref.coefs_):
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


def test_initial_weights_match_sklearn(make_data, assert_same_model):
    # One Adam step of size 1e-12 leaves the initial weights: compare them.
    X, y = make_data(MLPClassifier)
    est = MLPClassifier(hidden_layer_sizes=(7,), max_iter=1, learning_rate_init=1e-12,
                        random_state=3, dtype="float64")
    ref = _sklearn_twin(est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        ref.fit(X, y)
    assert_same_model(est, ref, rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------------------
# Verbose output, the last mini-batch of an epoch
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_verbose_prints_iterations(solver, capsys, make_data, assert_same_model):
    X, y = make_data(MLPClassifier)
    clf = MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=3, verbose=True,
                        random_state=0).fit(X, y)
    lines = re.findall(r"Iteration (\d+), loss = ([0-9.]+)", capsys.readouterr().out)
    assert [int(i) for i, _ in lines] == list(range(1, clf.n_iter_ + 1))
    if solver != "lbfgs":
        np.testing.assert_allclose([float(v) for _, v in lines], clf.loss_curve_, rtol=1e-6)
    quiet = MLPClassifier(hidden_layer_sizes=(4,), solver=solver, max_iter=3,
                          random_state=0).fit(X, y)
    assert capsys.readouterr().out == ""
    assert_same_model(clf, quiet, rtol=0, atol=0)


@pytest.mark.parametrize(
    "n_samples, batch_size, longer_last_lanes",
    [(310, "auto", True), (1120, "auto", True), (300, "auto", False), (228, 128, True),
     (200, 128, True), (600, 512, False), (150, 128, False), (300, 256, True)],
)
def test_last_partial_batch(Estimator, n_samples, batch_size, longer_last_lanes, make_data,
                            assert_same_model, numba_threads, kernel_runs):
    # The last mini-batch of an epoch is smaller than batch_size and may be
    # split into fewer, longer lanes than a full batch (with 8 Numba threads,
    # 310 samples in batches of 200: full batches in 4 lanes of 50 rows, the
    # last batch of 110 rows in 2 lanes of 55); the result must still follow
    # scikit-learn's trajectory (unshuffled, float64).  With 100 hidden units
    # on 10 features, a batch of 128 rows is enough work to be split.
    numba_threads(8)
    X, y = make_data(Estimator, n_samples=n_samples, n_features=10)
    est = Estimator(hidden_layer_sizes=(100,), batch_size=batch_size, max_iter=3,
                    shuffle=False, random_state=0, dtype="float64").fit(X, y)
    (run,) = set(kernel_runs.of("train"))  # every epoch runs alike
    assert run.lanes > 1 and run.threads > 1
    full_batch = min(200, n_samples) if batch_size == "auto" else batch_size
    # the longest lane is one of the last batch exactly when it is longer
    # than the lanes of a full batch
    assert (run.block_rows > -(-full_batch // run.lanes)) == longer_last_lanes
    ref = _sklearn_twin(est).fit(X, y)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-9)
    assert_same_model(est, ref, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------
# L-BFGS and the Poisson loss
# ---------------------------------------------------------------------------


def test_lbfgs_fits_and_honours_max_iter(make_data):
    X, y = make_data(MLPClassifier)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(16,), alpha=1e-2,
                            max_iter=2000, random_state=0).fit(X, y)
    assert clf.n_iter_ < 2000
    assert clf.score(X, y) > 0.95
    for max_iter in (1, 7):
        short = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(16,), max_iter=max_iter,
                              random_state=0)
        with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
            short.fit(X, y)
        assert short.n_iter_ == max_iter
        assert short.loss_ > clf.loss_
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        few_fun = MLPClassifier(solver="lbfgs", hidden_layer_sizes=(16,), max_fun=5,
                                max_iter=2000, random_state=0).fit(X, y)
    assert few_fun.n_iter_ <= 5


def test_lbfgs_matches_sklearn(make_data):
    X, y = make_data(MLPRegressor)
    reg = MLPRegressor(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=15, random_state=0,
                       dtype="float64").fit(X, y)
    ref = _sklearn_twin(reg).fit(X, y)
    assert reg.n_iter_ == ref.n_iter_
    assert reg.loss_ == pytest.approx(ref.loss_, rel=1e-6)
    np.testing.assert_allclose(reg.predict(X), ref.predict(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_poisson_regressor_on_counts(solver):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1] + 0.5)).astype(float)
    reg = MLPRegressor(loss="poisson", solver=solver, hidden_layer_sizes=(8,), max_iter=300,
                       learning_rate_init=0.01, random_state=0).fit(X, y)
    assert reg.out_activation_ == "exp"
    pred = reg.predict(X)
    assert np.all(pred > 0)
    # positive also far outside the training range
    assert np.all(reg.predict(10 * rng.normal(size=(50, 4))) > 0)
    baseline = mean_poisson_deviance(y, np.full_like(y, y.mean()))
    assert mean_poisson_deviance(y, pred) < 0.8 * baseline
    assert pred.mean() == pytest.approx(y.mean(), rel=0.1)
    # zero counts are fine
    y0 = y.copy()
    y0[:] = 0.0
    y0[0] = 1.0
    reg0 = MLPRegressor(loss="poisson", solver=solver, hidden_layer_sizes=(4,), max_iter=20,
                        random_state=0).fit(X, y0)
    assert np.all(np.isfinite(reg0.predict(X)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression",
                                  "multioutput"])
def test_few_rows_latency_path_matches_general_path(kind):
    """Up to 16 rows of a float ndarray skip validate_data; the results must not change."""
    Estimator, X, y, _ = _targets(kind)
    est = Estimator(hidden_layer_sizes=(7,), max_iter=20, random_state=0).fit(X, y)
    methods = ["predict"] + (["predict_proba"] if Estimator is MLPClassifier else [])
    for rows in (X[:1], X[:5], X[:16], X[::3][:4], np.asfortranarray(X[:6]),
                 X[:3].astype(np.float32)):
        for method in methods:
            fast = getattr(est, method)(rows)
            general = getattr(est, method)(rows.tolist())  # a list takes the general path
            assert fast.dtype == general.dtype
            np.testing.assert_array_equal(fast, general)
    bad = X[:2].copy()
    bad[1, 3] = np.nan
    for method in methods:
        with pytest.raises(ValueError, match="NaN"):
            getattr(est, method)(bad)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:2, :4])
