"""Weight initialisers: the registry and the function drawing a layer's parameters.

* 'sklearn' (the default): scikit-learn's MLP initialisation, uniform on
  ``[-b, b]`` with ``b = sqrt(f / (fan_in + fan_out))``, ``f = 2`` for a
  logistic network and 6 otherwise, for the weights and the intercepts,
  drawn in scikit-learn's order (so a model starts where scikit-learn's
  does).
* 'glorot_*' (Glorot & Bengio): standard deviation ``sqrt(2 / (fan_in +
  fan_out))``.
* 'he_*' (He et al.): standard deviation ``gain / sqrt(fan_in)``, with the
  gain of the activation that follows the layer (``Activation.gain``:
  sqrt(2) for relu, 1 for the output layer).
* 'lecun_*' (LeCun): standard deviation ``1 / sqrt(fan_in)`` (the one selu
  networks assume).

'_uniform' draws from the uniform distribution with that standard deviation
(``[-sqrt(3) s, sqrt(3) s]``), '_normal' from the normal one.  The new
schemes set intercepts to zero.

A front layer (``_embeddings``) starts as the identity on the input
columns (every scale 1), with frequencies of its periodic embeddings drawn
from N(0, ``PERIODIC_SIGMA``), phases uniform over a turn, and each
embedding's linear map He-uniform (intercepts zero), the embeddings of
categorical codes from N(0, 1 / E) (rows of about unit norm, as a one-hot
row); with copies (``_ensemble``), each copy's adapter is a random sign
per column (TabM's initialisation), so that the copies start as different
networks.
"""

from dataclasses import dataclass

import numpy as np

from ._activations import REGISTRY as ACTIVATIONS
from ._embeddings import SCALE_GAIN

#: Standard deviation of the periodic embeddings' initial frequencies (in
#: turns per unit of the scaled input).
PERIODIC_SIGMA = 0.1


@dataclass(frozen=True)
class Initializer:
    """A weight-initialisation scheme: how its standard deviation scales, and
    its distribution."""

    name: str
    scale: str  # 'sklearn', 'glorot', 'he' or 'lecun'
    distribution: str  # 'uniform' or 'normal'


REGISTRY = {"sklearn": Initializer("sklearn", "sklearn", "uniform")}
for _scale in ("glorot", "he", "lecun"):
    for _dist in ("uniform", "normal"):
        REGISTRY[f"{_scale}_{_dist}"] = Initializer(f"{_scale}_{_dist}", _scale, _dist)


def init_layer(scheme, rng, fan_in, fan_out, activation, sklearn_activation, dtype):
    """Weights ``(fan_in, fan_out)`` and intercepts of one layer.

    ``activation`` is the activation after the layer (the 'he' gain; None
    for the output layer), ``sklearn_activation`` the one scikit-learn's
    scheme looks at (the network's hidden activation).
    """
    init = REGISTRY[scheme]
    if init.scale == "sklearn":
        factor = 2.0 if sklearn_activation == "logistic" else 6.0
        bound = np.sqrt(factor / (fan_in + fan_out))
        coef = rng.uniform(-bound, bound, (fan_in, fan_out))
        intercept = rng.uniform(-bound, bound, fan_out)
        return coef.astype(dtype, copy=False), intercept.astype(dtype, copy=False)
    if init.scale == "glorot":
        std = np.sqrt(2.0 / (fan_in + fan_out))
    elif init.scale == "he":
        gain = 1.0 if activation is None else ACTIVATIONS[activation].gain
        std = gain / np.sqrt(fan_in)
    else:
        std = 1.0 / np.sqrt(fan_in)
    if init.distribution == "uniform":
        bound = np.sqrt(3.0) * std
        coef = rng.uniform(-bound, bound, (fan_in, fan_out))
    else:
        coef = rng.normal(0.0, std, (fan_in, fan_out))
    return coef.astype(dtype, copy=False), np.zeros(fan_out, dtype=dtype)


def init_front(front, rng, dtype):
    """The parameters of the front layer ``front`` (``Network.front_params``' layout)."""
    m, k, e = front.n_periodic, front.n_frequencies, front.width
    scale = np.full(front.n_scaled * front.scale, 1.0 / SCALE_GAIN)
    frequencies = rng.normal(0.0, PERIODIC_SIGMA, m * k)
    phases = rng.uniform(-0.5, 0.5, m * k)
    bound = np.sqrt(3.0 / k)
    maps = rng.uniform(-bound, bound, m * k * e)
    tables = rng.normal(0.0, 1.0 / np.sqrt(max(e, 1)), sum(front.codes) * e)
    signs = 2.0 * rng.randint(0, 2, front.n_adapters) - 1.0
    return np.concatenate([scale, frequencies, phases, maps, np.zeros(m * e), tables,
                           signs]).astype(dtype)
