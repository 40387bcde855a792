"""scikit-learn's fit callbacks (``sklearn.callback``) and ``LossCurveDisplay``."""

import importlib.util
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import fastnn
from fastnn import MLPClassifier, MLPRegressor, TabularMLPClassifier

callback = pytest.importorskip("sklearn.callback", reason="scikit-learn < 1.9 has no callbacks")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:600] / 16).astype(np.float32), y[:600]


class Recorder:
    """A callback recording every hook call; stops the fit after ``stop_after``
    subtasks (never when None)."""

    def __init__(self, stop_after=None, fail=False):
        self.stop_after, self.fail = stop_after, fail
        self.events = []

    def setup(self, estimator, context):
        self.events.append(("setup", context.task_name))

    def teardown(self, estimator, context):
        self.events.append(("teardown", context.task_name))

    def on_fit_task_begin(self, estimator, context):
        self.events.append(("begin", context.task_name, context.task_id))

    def on_fit_task_end(self, estimator, context, *, fitted_estimator=None):
        if self.fail:
            raise RuntimeError("callback failure")
        self.events.append(("end", context.task_name, context.task_id, fitted_estimator))
        return self.stop_after is not None and context.task_id + 1 >= self.stop_after \
            and context.parent is not None

    def ends(self, task_name):
        return [e[3] for e in self.events if e[0] == "end" and e[1] == task_name]


class Propagated(Recorder):
    """A ``Recorder`` that meta-estimators pass on to their parts."""

    max_propagation_depth = None


def test_every_epoch_is_a_task_whose_fitted_estimator_is_the_model_of_that_epoch(digits):
    X, y = digits
    recorder = Recorder()
    model = MLPClassifier((16,), max_iter=4, random_state=0).set_callbacks(recorder).fit(X, y)
    assert recorder.events[0] == ("setup", "fit")
    assert recorder.events[-1] == ("teardown", "fit")
    assert [e[:3] for e in recorder.events[1:-1]] == [
        ("begin", "fit", 0),
        *[(kind, "epoch", i) for i in range(4) for kind in ("begin", "end")],
        ("end", "fit", 0),
    ][:len(recorder.events) - 2]
    epochs = recorder.ends("epoch")
    assert len(epochs) == 4
    for n_epochs, fitted in enumerate(epochs, start=1):
        reference = MLPClassifier((16,), max_iter=n_epochs, random_state=0).fit(X, y)
        np.testing.assert_array_equal(fitted.predict_proba(X), reference.predict_proba(X))
    np.testing.assert_array_equal(epochs[-1].coefs_[0], model.coefs_[0])
    assert epochs[0].coefs_[0] is not epochs[1].coefs_[0]
    assert not hasattr(model, "_callback_fit_ctx")


def test_a_callback_stops_the_fit_after_an_epoch(digits):
    X, y = digits
    stopped = MLPClassifier((16,), max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a stop is not max_iter's
        stopped.set_callbacks(Recorder(stop_after=3)).fit(X, y)
    assert stopped.n_iter_ == 3 and len(stopped.loss_curve_) == 3
    reference = MLPClassifier((16,), max_iter=3, random_state=0).fit(X, y)
    for a, b in zip(stopped.coefs_, reference.coefs_):
        np.testing.assert_array_equal(a, b)


def test_lbfgs_iterations_are_tasks_and_can_be_stopped(digits):
    X, y = digits
    recorder = Recorder(stop_after=5)
    model = MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=100, random_state=0)
    model.set_callbacks(recorder).fit(X, y.astype(float))
    assert model.n_iter_ == 5
    assert len(recorder.ends("epoch")) == 5
    np.testing.assert_allclose(recorder.ends("epoch")[-1].predict(X), model.predict(X),
                               rtol=1e-6)


def test_partial_fit_is_one_task_of_one_epoch(digits):
    X, y = digits
    recorder = Recorder()
    model = MLPClassifier((16,), random_state=0).set_callbacks(recorder)
    model.partial_fit(X, y, classes=np.unique(y))
    model.partial_fit(X, y)
    assert [e[:2] for e in recorder.events].count(("end", "epoch")) == 2
    assert [e[:2] for e in recorder.events].count(("setup", "fit")) == 2


def test_callbacks_follow_clone_and_are_torn_down_when_a_hook_fails(digits):
    X, y = digits
    failing = Recorder(fail=True)
    model = clone(MLPClassifier((16,), max_iter=3).set_callbacks(failing))
    assert model._skl_callbacks == [failing]
    with pytest.raises(RuntimeError, match="callback failure"):
        model.fit(X, y)
    assert failing.events[-1] == ("teardown", "fit")
    assert not hasattr(model, "_callback_fit_ctx")


def test_scoring_monitor_logs_every_epoch(digits):
    X, y = digits
    monitor = callback.ScoringMonitor(scoring="accuracy")
    model = MLPClassifier((16,), max_iter=3, random_state=0).set_callbacks(monitor).fit(X, y)
    log = monitor.get_logs().data_as_pandas
    assert len(log) == 4  # the fit, then its three epochs
    assert log["accuracy"].iloc[0] == pytest.approx(model.score(X, y))


def test_progress_bar_runs(digits, capsys):
    pytest.importorskip("rich")
    X, y = digits
    MLPClassifier((16,), max_iter=2).set_callbacks(callback.ProgressBar()).fit(X, y)
    TabularMLPClassifier(hidden_layer_sizes=(16,), max_iter=2).set_callbacks(
        callback.ProgressBar()).fit(X[:, :8], y)


@pytest.mark.parametrize("n_networks", [1, 2])
def test_tabular_fit_passes_propagated_callbacks_to_its_networks(digits, n_networks):
    X, y = digits
    own, propagated = Recorder(), Propagated()
    model = TabularMLPClassifier(hidden_layer_sizes=(16,), max_iter=3, n_networks=n_networks,
                                 random_state=0, n_jobs=2)
    model.set_callbacks(own, propagated).fit(X[:, :8], y)
    # with callbacks, the networks train one after the other
    assert [e[:2] for e in own.events] == [
        ("setup", "fit"), ("begin", "fit"),
        *[("begin", "fit-network"), ("end", "fit-network")] * n_networks,
        ("end", "fit"), ("teardown", "fit")]
    assert own.ends("fit")[0].predict(X[:5, :8]).shape == (5,)
    assert len(propagated.ends("epoch")) == 3 * n_networks and model.n_iter_ == 3
    assert len(model.networks_) == n_networks
    assert not any(hasattr(network, "_skl_callbacks") for network in model.networks_)


def test_a_failed_tabular_fit_tears_its_callbacks_down_and_leaves_the_model(digits):
    X, y = digits
    failing = Recorder(fail=True)
    model = TabularMLPClassifier(hidden_layer_sizes=(16,), max_iter=2).set_callbacks(failing)
    with pytest.raises(RuntimeError, match="callback failure"):
        model.fit(X[:, :8], y)
    assert failing.events[-1] == ("teardown", "fit")
    assert not hasattr(model, "_callback_fit_ctx") and not hasattr(model, "networks_")


def test_without_sklearn_callbacks_the_estimators_train_as_before(monkeypatch, digits):
    # the module as imported with a scikit-learn that has no sklearn.callback
    monkeypatch.setitem(sys.modules, "sklearn.callback", None)
    spec = importlib.util.spec_from_file_location("_callbacks_without",
                                                  fastnn._callbacks.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert not hasattr(module.CallbackSupportMixin, "set_callbacks")
    fit = object()
    assert module.with_callbacks(fit) is fit
    X, y = digits
    assert module.FitTasks.begin(MLPClassifier(), X, y, None, 1, dict) is None


# ---------------------------------------------------------------------------
# LossCurveDisplay
# ---------------------------------------------------------------------------


@pytest.fixture
def pyplot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_loss_curve_display_draws_the_history(pyplot, digits):
    X, y = digits
    model = MLPClassifier((16,), max_iter=6, early_stopping=True, random_state=0).fit(X, y)
    display = fastnn.LossCurveDisplay.from_estimator(model)
    loss, score = display.lines_
    np.testing.assert_array_equal(loss.get_xdata(), np.arange(1, 7))
    np.testing.assert_array_equal(loss.get_ydata(), model.history_["loss"])
    np.testing.assert_array_equal(score.get_ydata(), model.validation_scores_)
    assert display.score_ax_ is not None and display.score_ax_ is not display.ax_
    assert display.figure_ is display.ax_.figure
    assert display.ax_.get_title() == "MLPClassifier"


def test_loss_curve_display_without_validation_and_on_given_axes(pyplot, digits):
    X, y = digits
    model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    model.fit(X, y.astype(float))
    _, ax = pyplot.subplots()
    display = fastnn.LossCurveDisplay.from_estimator(model, ax=ax, loss_kw={"color": "k"})
    assert display.ax_ is ax and display.score_ax_ is None
    assert len(display.lines_) == 1 and display.lines_[0].get_color() == "k"


def test_loss_curve_display_of_a_tabular_model(pyplot, digits):
    X, y = digits
    model = TabularMLPClassifier(hidden_layer_sizes=(16,), max_iter=3).fit(X[:, :8], y)
    display = fastnn.LossCurveDisplay.from_estimator(model)
    np.testing.assert_array_equal(display.lines_[0].get_ydata(),
                                  model.networks_[0].history_["loss"])


def test_loss_curve_display_needs_a_fitted_stochastic_model(pyplot, digits):
    X, y = digits
    with pytest.raises(NotFittedError):
        fastnn.LossCurveDisplay.from_estimator(MLPClassifier())
    model = MLPClassifier((8,), solver="lbfgs", max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="no per-epoch history"):
        fastnn.LossCurveDisplay.from_estimator(model)
