"""The network spec: layers, parameter regions and workspace layout, in one object.

A ``Network`` is what the kernels train and evaluate: per layer its kind
(dense), width, activation and dropout; an optional front layer
(``Front``: column scaling and periodic embeddings, ``_embeddings``); the
flat parameter vector and where each layer's parameters sit in it; which
region of it the L2 penalty and weight decay apply to; and how a block's
workspace is laid out.  The estimators build one from their parameters,
the engine sizes its buffers from it, and the kernels receive it as one
tuple (``spec``) and the front layer's vector (``front_spec``).
"""

from dataclasses import asdict, dataclass, fields

import numpy as np

from . import _embeddings as E
from ._activations import ACTIVATIONS, BASIC, NEEDS_INPUT, code_of
from ._noise import REGISTRY as DROPOUT_KINDS

DENSE = 0


@dataclass(frozen=True)
class Front:
    """A front layer (``_embeddings``): between ``n_inputs`` input columns, the
    first ``n_periodic`` of them numeric and the last ``len(codes)`` of them
    categorical codes, and the first dense layer.

    Parameters
    ----------
    n_inputs : int
        Columns of the input.
    n_periodic : int
        The first ``n_periodic`` columns get a periodic embedding each.
    n_frequencies : int, default=16
        Frequencies of a periodic embedding.
    width : int, default=8
        Outputs of a periodic embedding.
    scale : bool, default=True
        Whether every input column has a learned scale.
    copies : int, default=1
        Copies of the network behind the front layer (``_ensemble``): each
        has a multiplicative adapter on the front layer's output and its own
        output layer.
    codes : tuple of int, default=()
        Codes of each code column; each code has a learned embedding of
        ``width`` outputs.
    """

    n_inputs: int
    n_periodic: int
    n_frequencies: int = 16
    width: int = 8
    scale: bool = True
    copies: int = 1
    codes: tuple = ()

    @property
    def n_scaled(self):
        """Input columns that are not codes (each scaled, when ``scale``)."""
        return self.n_inputs - len(self.codes)

    @property
    def n_outputs(self):
        """Columns of the first dense layer's input."""
        return self.n_scaled + (self.n_periodic + len(self.codes)) * self.width

    @property
    def n_adapters(self):
        """Parameters of the copies' adapters (none for one copy)."""
        return self.copies * self.n_outputs if self.copies > 1 else 0

    @property
    def n_params(self):
        m, k, e = self.n_periodic, self.n_frequencies, self.width
        return (self.n_scaled * self.scale + m * (2 * k + k * e + e) + sum(self.codes) * e
                + self.n_adapters)

    def spec(self, offset):
        """The kernels' ``front`` vector, the parameters starting at ``offset``."""
        q = len(self.codes)
        v = np.zeros(E.FRONT_SIZE + q + 1, dtype=np.int64)
        m, k, e = self.n_periodic, self.n_frequencies, self.width
        v[[E.FRONT_INPUTS, E.FRONT_PERIODIC, E.FRONT_FREQUENCIES, E.FRONT_WIDTH]] = (
            self.n_scaled, m, k, e)
        v[E.FRONT_SCALE] = offset if self.scale else -1
        offset += self.n_scaled * self.scale
        v[E.FRONT_W] = offset
        v[E.FRONT_C] = offset + m * k
        v[E.FRONT_V] = offset + 2 * m * k
        v[E.FRONT_U] = offset + 2 * m * k + m * k * e
        offset += 2 * m * k + m * k * e + m * e
        v[E.FRONT_CODED] = q
        v[E.FRONT_TABLES] = offset
        v[E.FRONT_SIZE:] = np.concatenate([[0], np.cumsum(self.codes, dtype=np.int64)])
        return v

    def copies_spec(self, offset):
        """The kernels' ``copies`` vector (``_ensemble``), the front layer's
        parameters starting at ``offset``; None for one copy."""
        if self.copies == 1:
            return None
        adapters = offset + self.n_params - self.n_adapters
        return np.array([self.copies, adapters], dtype=np.int64)

    def to_dict(self):
        """The fields as a dict of ints, a bool and a tuple (``from_dict``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, state):
        """The front layer of ``to_dict``'s dict, its fields checked.

        Raises
        ------
        ValueError
            When the fields do not describe a front layer.
        """
        values = {f.name: state[f.name] for f in fields(cls)}
        codes = tuple(int(c) for c in values.pop("codes"))
        scale = bool(values.pop("scale"))
        counts = {name: int(v) for name, v in values.items()}
        front = cls(**counts, scale=scale, codes=codes)
        if (min(counts.values()) < 0 or front.copies < 1 or min(codes, default=1) < 1
                or front.n_scaled < front.n_periodic):
            raise ValueError(f"Not a front layer: {state!r}.")
        return front


def _readonly(a):
    """``a`` as the kernels take every array they only read: an aligned,
    read-only ``numpy.ndarray`` (a view when ``a`` is aligned), so that one
    compiled kernel serves arrays, read-only arrays and memory maps alike."""
    view = a.view(np.ndarray) if a.flags.aligned else a.copy()
    view.flags.writeable = False
    return view


def _owning(theta):
    """``theta``, or a copy where it is a view of another array (as ``np.load``
    returns from a file in memory): slices of ``theta`` must have ``theta`` as
    their base (``NetworkMixin._views_of``), or every prediction would pack a
    new network.  A memory map is kept: its (non-empty) slices have it as their
    base."""
    return theta if theta[:1].base is theta else theta.copy()


_ACTIVATION_NAMES = {code: name for name, code in ACTIVATIONS.items()}
_DROPOUT_KIND_NAMES = {code: name for name, code in DROPOUT_KINDS.items()}


class Network:
    """Layer sizes, activations, dropout and one flat parameter vector.

    Parameters
    ----------
    sizes : sequence of int
        Units of the input, of every hidden layer and of the output.
    activation : str or sequence of str
        Activation of the hidden layers, or one per hidden layer.
    output_activation : str
        Activation of the output layer.
    dtype : dtype
        Of the parameters and all computation.
    dropout : float or sequence of float, default=0.0
        Dropout rate of the hidden layers' outputs, or one per hidden layer.
    dropout_kind : {'bernoulli', 'gaussian'}, default='bernoulli'
    seed : int, default=0
        Key of the dropout masks' random stream.
    front : Front or None, default=None
        The front layer; ``sizes[0]`` is then its ``n_outputs``, and with
        ``k`` copies (``_ensemble``), ``sizes[-1]`` is ``k`` times the
        network's outputs (the heads side by side).

    Notes
    -----
    ``theta`` holds all weight matrices (row-major) followed by all
    intercepts, the same order as scikit-learn's packed L-BFGS vector, then
    the front layer's parameters; ``coefs``, ``intercepts`` and
    ``front_params`` are views into it.  The weights,
    ``theta[:n_penalised]``, are the region the L2 penalty and weight decay
    apply to.
    """

    def __init__(self, sizes, activation, output_activation, dtype, dropout=0.0,
                 dropout_kind="bernoulli", seed=0, front=None):
        self.sizes = np.asarray(sizes, dtype=np.int64)
        if front is not None and front.n_outputs != self.sizes[0]:
            raise ValueError(f"The front layer has {front.n_outputs} outputs; the first"
                             f" layer takes {self.sizes[0]} inputs.")
        if front is not None and self.sizes[-1] % front.copies:
            raise ValueError(f"{front.copies} copies need a multiple of {front.copies}"
                             f" output units; got {self.sizes[-1]}.")
        self.front = front
        n_hidden = len(self.sizes) - 2
        names = [activation] * n_hidden if isinstance(activation, str) else list(activation)
        rates = [dropout] * n_hidden if np.ndim(dropout) == 0 else list(dropout)
        if len(names) != n_hidden or len(rates) != n_hidden:
            raise ValueError(
                f"{n_hidden} hidden layers need as many activations and dropout rates;"
                f" got {len(names)} and {len(rates)}."
            )
        self.kinds = np.full(n_hidden + 1, DENSE, dtype=np.int64)
        self.acts = np.array([code_of(a) for a in names] + [code_of(output_activation)],
                             dtype=np.int64)
        self.drop = np.array(list(rates) + [0.0], dtype=np.float64)
        self.dropout_kind = DROPOUT_KINDS[dropout_kind]
        self.seed = int(seed)
        fan_in, fan_out = self.sizes[:-1], self.sizes[1:]
        n_coef = int(np.sum(fan_in * fan_out))
        layout = np.empty((n_hidden + 1, 4), dtype=np.int64)
        layout[:, 0] = fan_in
        layout[:, 1] = fan_out
        layout[:, 2] = np.concatenate([[0], np.cumsum(fan_in * fan_out)[:-1]])
        layout[:, 3] = n_coef + np.concatenate([[0], np.cumsum(fan_out)[:-1]])
        self.layout = layout
        self.n_penalised = n_coef
        self.n_dense_params = n_coef + int(np.sum(fan_out))
        self.n_params = self.n_dense_params + (0 if front is None else front.n_params)
        self._freeze()
        self.theta = np.zeros(self.n_params, dtype=dtype)

    def _freeze(self):
        """Derive the workspace layout; make the spec's arrays read-only."""
        self.layout = _readonly(self.layout)
        self.acts = _readonly(self.acts)
        self.drop = _readonly(self.drop)
        self.wsl = _readonly(self._workspace_layout())
        # the kernels' last two arguments (``_kernels``)
        self.front_spec = (None if self.front is None
                           else _readonly(self.front.spec(self.n_dense_params)))
        copies = None if self.front is None else self.front.copies_spec(self.n_dense_params)
        self.copies_spec = None if copies is None else _readonly(copies)

    def _workspace_layout(self):
        """Per-row offsets of the workspace matrices (see ``_kernels``).

        ``wsl[0, l]`` / ``wsl[1, l]``: the activations / deltas of layer ``l``
        (``l = 0`` the input); ``wsl[2, l]``: the stored derivative of a hidden
        layer whose activation needs its input or whose outputs are dropped
        out, else -1; ``wsl[0, L + 1]``: the elements per row.

        With ``k > 1`` copies (``_ensemble``), a row takes ``k`` rows of
        every matrix but the output layer's, and ``wsl[2, 0]`` is where the
        front layer's outputs and their deltas (a row each) start.
        """
        k = self.copies
        sizes = np.concatenate([k * self.sizes[:-1], self.sizes[-1:]])
        L = len(sizes) - 1
        total = int(sizes.sum())
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        wsl = np.full((3, L + 2), -1, dtype=np.int64)
        wsl[0, :L + 1] = starts
        wsl[1, :L + 1] = total + starts
        end = 2 * total
        for l in range(1, L):
            if self.acts[l - 1] in NEEDS_INPUT or self.drop[l - 1] > 0:
                wsl[2, l] = end
                end += int(sizes[l])
        if k > 1:
            wsl[2, 0] = end
            end += 2 * int(self.sizes[0])
        wsl[0, L + 1] = end
        return wsl

    @property
    def copies(self):
        """Copies of the network (``_ensemble``): 1 without a front layer."""
        return 1 if self.front is None else self.front.copies

    @property
    def n_outputs(self):
        """Outputs of the network (of each copy)."""
        return int(self.sizes[-1]) // self.copies

    @property
    def theta(self):
        """The flat parameter vector (read-only when loaded from a read-only memory map)."""
        return self._theta

    @theta.setter
    def theta(self, value):
        self._theta = value
        self.theta_view = _readonly(value)  # the form prediction kernels take
        self._specs = None

    def spec(self, writable=True):
        """The tuple the kernels take (``_kernels``' module docstring)."""
        if self._specs is None:  # built once per theta: prediction calls it per call
            rest = (self.layout, self.acts, self.wsl, self.drop, self.dropout_kind, self.seed,
                    self.n_penalised)
            self._specs = ((self.theta_view, *rest), (self.theta, *rest))
        return self._specs[writable]

    @property
    def uses_dropout(self):
        return bool(np.any(self.drop > 0))

    @property
    def extended(self):
        """Whether an activation or a front layer needs the full kernels (``_kernels``)."""
        return self.front is not None or any(int(code) not in BASIC for code in self.acts)

    def to_dict(self):
        """The network as plain values and its parameter vector (``from_dict``):
        what a file stores, pickle's or a safe format's such as skops'."""
        return {
            "sizes": [int(s) for s in self.sizes],
            "activations": [_ACTIVATION_NAMES[int(code)] for code in self.acts],
            "dropout": [float(rate) for rate in self.drop[:-1]],
            "dropout_kind": _DROPOUT_KIND_NAMES[self.dropout_kind],
            "seed": self.seed,
            "front": None if self.front is None else self.front.to_dict(),
            "theta": self.theta,
        }

    @classmethod
    def from_dict(cls, state):
        """The network of ``to_dict``'s dict.

        The layout is derived from the sizes again, and the parameter vector
        must have the length it gives: the kernels index it by that layout
        without bounds checks.

        Raises
        ------
        ValueError
            When the values do not describe a network.
        """
        theta = state["theta"]
        if not (isinstance(theta, np.ndarray) and theta.ndim == 1
                and theta.dtype in (np.float32, np.float64)):
            raise ValueError("A network's parameters are a 1-D float32 or float64 array.")
        sizes = [int(s) for s in state["sizes"]]
        activations = list(state["activations"])
        if len(sizes) < 2 or min(sizes) < 1 or len(activations) != len(sizes) - 1:
            raise ValueError(f"Not a network: sizes {sizes}, activations {activations}.")
        if any(not 0 <= rate < 1 for rate in state["dropout"]):
            raise ValueError(f"Dropout rates must be in [0, 1); got {state['dropout']}.")
        front = None if state["front"] is None else Front.from_dict(state["front"])
        net = cls(sizes, activations[:-1], activations[-1], theta.dtype, list(state["dropout"]),
                  state["dropout_kind"], int(state["seed"]), front)
        if theta.shape[0] != net.n_params:
            raise ValueError(f"The network has {net.n_params} parameters; the vector given"
                             f" has {theta.shape[0]}.")
        net.theta = _owning(theta)
        return net

    def __getstate__(self):
        return self.to_dict()

    def __setstate__(self, state):
        if "activations" in state:
            self.__dict__.update(self.from_dict(state).__dict__)
            return
        # the state of an older file: the attributes themselves
        state = dict(state)
        theta = state.pop("_theta", None)
        if theta is None:  # pickled before theta became a property
            theta = state.pop("theta")
        self.__dict__.update(state)
        n_layers = len(self.sizes) - 1
        # pickled before dropout and regions were part of the spec
        self.__dict__.setdefault("kinds", np.full(n_layers, DENSE, dtype=np.int64))
        self.__dict__.setdefault("drop", np.zeros(n_layers))
        self.__dict__.setdefault("dropout_kind", 0)
        self.__dict__.setdefault("seed", 0)
        self.__dict__.setdefault("n_penalised", int(self.layout[0, 3]))
        self.__dict__.setdefault("front", None)
        self.__dict__.setdefault("n_dense_params", self.n_params)
        # arrays may come back as memory maps, or writable: the kernels take
        # them in one form only, so that nothing is compiled for a loaded model
        self._freeze()
        self.theta = theta

    @property
    def coefs(self):
        return [self.theta[w:w + i * o].reshape(i, o) for i, o, w, _ in self.layout]

    @property
    def intercepts(self):
        return [self.theta[b:b + o] for _, o, _, b in self.layout]

    @property
    def front_params(self):
        """The front layer's parameters (empty without one)."""
        return self.theta[self.n_dense_params:]

    def set_params(self, coefs, intercepts):
        """Copy weight matrices and intercepts into ``theta``."""
        for c, dst in zip(coefs, self.coefs):
            dst[...] = c
        for b, dst in zip(intercepts, self.intercepts):
            dst[...] = b

    def flops_per_row(self):
        """Multiply-adds of a row's forward pass through the dense layers
        (every copy through the shared layers, and through its own head)."""
        fan_in, fan_out = self.layout[-1, :2]
        return self.copies * (int(self.n_penalised) - int(fan_in * fan_out)) + int(fan_in * fan_out)

    def workspace_per_row(self):
        """Workspace elements a block needs per row (activations, deltas, derivatives)."""
        return int(self.wsl[0, -1])

    def workspace(self, cap, n_lanes, scratch=False):
        """Per-lane workspaces (see ``_kernels``) for blocks of ``cap`` rows."""
        size = cap * self.workspace_per_row()
        if scratch:
            size += int(np.max(self.sizes[:-1] * self.sizes[1:]))
        return np.empty((n_lanes, size), dtype=self.theta.dtype)
