"""scikit-learn's fit callbacks (``sklearn.callback``) around fastnn's training loops.

scikit-learn 1.9 brought an experimental callback API: an estimator with
``CallbackSupportMixin`` takes callbacks through ``set_callbacks`` (a
``ProgressBar``, a ``ScoringMonitor``, or any object with the ``FitCallback``
hooks) and reports a tree of tasks to them.  A fastnn fit is the root task
and each epoch of a stochastic solver (each iteration of L-BFGS) one of its
subtasks; a callback whose ``on_fit_task_end`` returns True after an epoch
stops the fit there, as ``max_time`` does.  With an older scikit-learn the
estimators have no ``set_callbacks`` and train as before.

Contexts are created only when the estimator has callbacks, so that a fit
or ``partial_fit`` without them pays nothing.
"""

import contextlib

try:
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # scikit-learn < 1.9: no callbacks
    class CallbackSupportMixin:
        """Stand-in for ``sklearn.callback.CallbackSupportMixin``: no callbacks."""

    def with_callbacks(method):
        return method

__all__ = ["CONTEXT_ATTRIBUTES", "CallbackSupportMixin", "FitTasks", "fit_of_parts", "snapshot",
           "with_callbacks"]

# What an estimator holds while its fit's callback context is open
# (``CallbackSupportMixin._init_callback_context``).
CONTEXT_ATTRIBUTES = ("_callback_fit_ctx", "_skl_callbacks_to_teardown")


class FitTasks:
    """The callback contexts of one fit: the fit and, under it, its epochs.

    Use ``FitTasks.begin``, which returns None when the estimator has no
    callbacks.  ``fitted`` gives the attributes that make a copy of the
    estimator predict as the network trained so far does (evaluated only
    when a callback asks for the fitted estimator).
    """

    def __init__(self, estimator, context, X, y, metadata, fitted):
        self.estimator = estimator
        self.context = context
        self.data = {"X": X, "y": y, "metadata": metadata}
        self.fitted = fitted
        self._subtask = None

    @classmethod
    def begin(cls, estimator, X, y, sample_weight, max_subtasks, fitted):
        """Open the fit's task (calling the callbacks' ``on_fit_task_begin``),
        or return None when ``estimator`` has no callbacks."""
        if not getattr(estimator, "_skl_callbacks", None):
            return None
        context = estimator._init_callback_context(max_subtasks=max_subtasks)
        metadata = {} if sample_weight is None else {"sample_weight": sample_weight}
        tasks = cls(estimator, context, X, y, metadata, fitted)
        context.call_on_fit_task_begin(estimator=estimator, **tasks.data)
        return tasks

    def epoch_begins(self):
        self._subtask = self.context.subcontext(task_name="epoch")
        self._subtask.call_on_fit_task_begin(estimator=self.estimator, **self.data)

    def epoch_ends(self, *_):
        """Close the epoch's task; True when a callback asks to stop the fit."""
        subtask, self._subtask = self._subtask, None
        return subtask.call_on_fit_task_end(estimator=self.estimator, **self.data,
                                            reconstruction_attributes=self.fitted)

    def iteration(self):
        """An L-BFGS iteration, as a task that has just ended; True to stop."""
        self.epoch_begins()
        return self.epoch_ends()

    def end(self):
        self.context.call_on_fit_task_end(estimator=self.estimator, **self.data,
                                          reconstruction_attributes=self.fitted)


def snapshot(net):
    """A copy of ``net`` with its own weights (the trained one keeps changing)."""
    return type(net).from_dict({**net.to_dict(), "theta": net.theta.copy()})


@contextlib.contextmanager
def fit_of_parts(estimator, X, y, sample_weight, n_parts, name):
    """The fit of ``estimator`` as a task whose subtasks, ``name``, are the
    fits of its ``n_parts`` parts.

    Yields ``fit_of_part``: ``with fit_of_part(part):`` around the fit of a
    part (an estimator) makes it one of the subtasks.  As in scikit-learn's
    meta-estimators, the callbacks that propagate (``ProgressBar``) follow
    the parts' fits; the others see the whole fit, and the fitted
    ``estimator`` at its end.
    """
    tasks = FitTasks.begin(estimator, X, y, sample_weight, n_parts, fitted=dict)
    if tasks is None:
        yield lambda part: contextlib.nullcontext()
        return

    @contextlib.contextmanager
    def fit_of_part(part):
        subtask = tasks.context.subcontext(task_name=name)
        subtask.call_on_fit_task_begin(estimator=estimator, **tasks.data)
        with subtask.propagate_callback_context(part):
            yield
        subtask.call_on_fit_task_end(estimator=estimator, **tasks.data)

    yield fit_of_part
    tasks.end()
