"""``LossCurveDisplay``: the training history of a fitted model, drawn with matplotlib."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

__all__ = ["LossCurveDisplay"]


def _history_of(estimator):
    """The per-epoch history of a fitted fastnn estimator (of the first network
    of a tabular one)."""
    check_is_fitted(estimator)
    model = getattr(estimator, "networks_", [estimator])[0]
    history = getattr(model, "history_", None)
    if history is None:
        raise ValueError(
            f"{type(estimator).__name__} has no per-epoch history: only the stochastic"
            f" solvers record one (solver={getattr(model, 'solver', None)!r})."
        )
    return history


class LossCurveDisplay:
    """Training loss and validation score per epoch.

    Build it with :meth:`from_estimator` from a fitted estimator, or from the
    arrays themselves, then call :meth:`plot`.

    Parameters
    ----------
    loss : array-like of shape (n_epochs,)
        Training loss after each epoch.
    validation_score : array-like of shape (n_epochs,), default=None
        Validation score after each epoch (NaN where there was none).
    score_name : str, default="Validation score"
        Label of the validation score's axis.
    estimator_name : str, default=None
        Title of the plot.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the training loss.
    score_ax_ : matplotlib Axes or None
        Axes (sharing the x axis, scale on the right) with the validation
        score, or None when there is no validation score.
    figure_ : matplotlib Figure
        Figure containing the curves.
    lines_ : list of matplotlib Line2D
        The training loss line, then the validation score line if drawn.

    See Also
    --------
    sklearn.model_selection.LearningCurveDisplay : Scores against training set size.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from sklearn.datasets import load_digits
    >>> from fastnn import LossCurveDisplay, MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> model = MLPClassifier(early_stopping=True, max_iter=30, random_state=0)
    >>> model = model.fit(X / 16, y)
    >>> display = LossCurveDisplay.from_estimator(model)
    >>> plt.show()
    """

    def __init__(self, *, loss, validation_score=None, score_name="Validation score",
                 estimator_name=None):
        self.loss = loss
        self.validation_score = validation_score
        self.score_name = score_name
        self.estimator_name = estimator_name

    def plot(self, ax=None, *, loss_kw=None, score_kw=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure and axes when None.
        loss_kw : dict, default=None
            Keyword arguments of the training loss's ``ax.plot``.
        score_kw : dict, default=None
            Keyword arguments of the validation score's ``ax.plot``.

        Returns
        -------
        display : LossCurveDisplay
            This object, with the axes and lines drawn.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as error:
            raise ImportError("LossCurveDisplay.plot needs matplotlib:"
                              " pip install matplotlib") from error
        if ax is None:
            _, ax = plt.subplots()
        loss = np.asarray(self.loss, dtype=float)
        epochs = np.arange(1, len(loss) + 1)
        (loss_line,) = ax.plot(epochs, loss, **{"label": "Training loss", "color": "C0",
                                                 **(loss_kw or {})})
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Training loss")
        self.lines_ = [loss_line]
        self.score_ax_ = None
        score = (None if self.validation_score is None
                 else np.asarray(self.validation_score, dtype=float))
        if score is not None and np.isfinite(score).any():
            self.score_ax_ = ax.twinx()
            (score_line,) = self.score_ax_.plot(
                epochs, score, **{"label": self.score_name, "color": "C1", **(score_kw or {})}
            )
            self.score_ax_.set_ylabel(self.score_name)
            self.lines_.append(score_line)
        # on the axes drawn last, so that no curve covers it
        (self.score_ax_ or ax).legend(handles=self.lines_, loc="center right")
        if self.estimator_name is not None:
            ax.set_title(self.estimator_name)
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, ax=None, loss_kw=None, score_kw=None):
        """Draw the history of a fitted estimator.

        Parameters
        ----------
        estimator : fitted fastnn estimator
            An ``MLPClassifier``, ``MLPRegressor`` or tabular estimator
            fitted by a stochastic solver (its ``history_``).
        ax, loss_kw, score_kw
            As for :meth:`plot`.

        Returns
        -------
        display : LossCurveDisplay
            The display, drawn.
        """
        history = _history_of(estimator)
        return cls(loss=history["loss"], validation_score=history["val_score"],
                   estimator_name=type(estimator).__name__).plot(
            ax=ax, loss_kw=loss_kw, score_kw=score_kw)
