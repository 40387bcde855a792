"""fastnn: scikit-learn's multilayer perceptrons, trained by compiled Numba kernels."""

__version__ = "0.1.0"

from ._mlp import MLPClassifier, MLPRegressor  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor", "__version__"]
