"""fastnn: scikit-learn's multilayer perceptrons, trained by compiled Numba kernels."""

__version__ = "0.1.0"

from ._compile import compile_kernels  # noqa: E402
from ._mlp import MLPClassifier, MLPRegressor  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor", "compile_kernels", "__version__"]
