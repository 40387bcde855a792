"""Packed matrix products (``_packed``): bfloat16 and float32, against float64 references."""

import numpy as np
import pytest
from jitted import jit

from fastnn import _amx, _engine, _packed

needs_bf16 = pytest.mark.skipif(not _packed.has_bf16(), reason="the CPU has no AVX512_BF16")

SHAPES = [(1, 1, 1), (7, 3, 5), (8, 2, 32), (13, 17, 45), (64, 100, 10), (257, 129, 33),
          (200, 784, 256)]


BF16 = np.zeros(1, dtype=np.uint32)  # packed arrays like these: bfloat16 products
F32 = np.zeros(1, dtype=np.float32)  # and these: float32 products


def matmul(A, B):
    return _packed.matmul(A, B, BF16)


def bf16(x):
    """``x`` rounded to bfloat16 (to nearest, ties to even), in float64."""
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
    return rounded.astype(np.uint32).view(np.float32).astype(np.float64)


def operands(m, k, n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, k)).astype(np.float32),
            rng.standard_normal((k, n)).astype(np.float32))


@needs_bf16
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_products_of_the_rounded_operands_summed_in_float32(m, k, n):
    A, B = operands(m, k, n)
    C = matmul(A, B)
    assert C.dtype == np.float32 and C.shape == (m, n)
    # the bf16 products are exact in float32; only the k - 1 float32 additions round
    exact = bf16(A) @ bf16(B)
    bound = (np.abs(bf16(A)) @ np.abs(bf16(B))) * k * 2.0**-24
    assert np.all(np.abs(C - exact) <= bound)
    # and against the float64 product of the operands themselves: bf16's
    # rounding (at most 2**-8 relative, for each operand) on top
    magnitude = np.abs(A.astype(np.float64)) @ np.abs(B.astype(np.float64))
    unit = 2.0**-8
    assert np.all(np.abs(C - A.astype(np.float64) @ B)
                  <= magnitude * (2 * unit + unit**2 + k * 2.0**-24))


@needs_bf16
def test_strided_operands_give_the_same_product():
    A, B = operands(37, 21, 70)
    C = matmul(A, B)
    np.testing.assert_array_equal(matmul(np.asfortranarray(A), B), C)
    np.testing.assert_array_equal(matmul(A, B.T.copy().T), C)
    np.testing.assert_array_equal(matmul(A.T.copy().T, np.asfortranarray(B)), C)


@needs_bf16
def test_rounding_is_to_nearest_even():
    one = np.ones((1, 1), dtype=np.float32)
    for value, expected in [(1 + 2.0**-8, 1.0),                 # a tie: down to even
                            (1 + 3 * 2.0**-8, 1 + 2 * 2.0**-7),   # a tie: up to even
                            (1 + 2.0**-8 + 2.0**-20, 1 + 2.0**-7),  # above the tie: up
                            (-3.0, -3.0), (0.0, 0.0),
                            (np.float32(3.4e38), np.inf)]:        # past bf16's largest
        x = np.full((1, 1), value, dtype=np.float32)
        assert matmul(x, one)[0, 0] == np.float32(expected), value


@needs_bf16
def test_non_finite_values_propagate():
    A, B = operands(9, 4, 33)
    A[2, 1], B[3, 5] = np.nan, np.inf
    C = matmul(A, B)
    assert np.all(np.isnan(C[2]))
    assert np.all(~np.isfinite(C[:, 5]))
    finite = np.ones(C.shape, dtype=bool)
    finite[2] = finite[:, 5] = False
    assert np.all(np.isfinite(C[finite]))


@needs_bf16
@pytest.mark.parametrize("m, k, n", [(8, 6, 32), (11, 5, 40)])
def test_packed_products_overwrite_or_accumulate(m, k, n):
    @jit
    def product(A, B, C, accumulate):
        Ap, Bp = _packed.packed_a(*A.shape, BF16), _packed.packed_b(*B.shape, BF16)
        _packed.pack_a(A, Ap)
        _packed.pack_b(B, Bp)
        _packed.gemm_packed(Ap, Bp, C, accumulate)

    A, B = operands(m, k, n)
    C = np.full((m, n), 7.0, dtype=np.float32)
    product(A, B, C, False)
    np.testing.assert_array_equal(C, matmul(A, B))
    product(A, B, C, True)
    np.testing.assert_allclose(C, 2 * matmul(A, B), rtol=1e-6)
    # a view with padded rows (row stride past its width)
    wide = np.zeros((m, n + 5), dtype=np.float32)
    product(A, B, wide[:, :n], False)
    np.testing.assert_array_equal(wide[:, :n], matmul(A, B))
    assert not wide[:, n:].any()


# ---------------------------------------------------------------------------
# Training with dtype="bfloat16"
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def gradients(packed):
    """The loss and gradient of a 20-64-40-3 network on 300 rows, exact
    (float64) and in float32 with products ``packed`` (``_engine.LossGradient``:
    None for BLAS's)."""
    from fastnn import _engine, _network
    from fastnn._losses import LOSSES

    rng = np.random.default_rng(0)
    # 300 rows: one lane walks two blocks, the second adding its weight gradient
    X = rng.standard_normal((300, 20))
    Y = (rng.random((300, 3)) < 0.3).astype(float)
    nets = {dtype: _network.Network([20, 64, 40, 3], "tanh", "logistic", dtype)
            for dtype in (np.float32, np.float64)}
    nets[np.float32].theta[:] = rng.standard_normal(nets[np.float32].n_params) * 0.3
    nets[np.float64].theta[:] = nets[np.float32].theta
    code = LOSSES["binary_log_loss"]
    exact_loss, exact = _engine.LossGradient(
        nets[np.float64], _engine.Data(X, Y, None, np.float64), code, 1e-4, None)()
    loss, gradient = _engine.LossGradient(
        nets[np.float32], _engine.Data(X, Y, None, np.float32), code, 1e-4, None, packed=packed)()
    return exact_loss, exact, loss, gradient


@needs_bf16
def test_the_gradient_within_bf16_rounding_of_float64():
    exact_loss, exact, loss, gradient = gradients(2)
    assert abs(loss - exact_loss) <= 1e-2 * abs(exact_loss)
    # bf16 operands: about 2**-8 relative per product, far from float32's 1e-7
    error = np.abs(gradient - exact).max() / np.abs(exact).max()
    assert 1e-5 < error < 2e-2
    _, _, _, f32 = gradients(None)
    assert np.abs(f32 - exact).max() / np.abs(exact).max() < 1e-5


@needs_bf16
def test_a_bfloat16_fit_trains_like_float32(digits):
    from fastnn import MLPClassifier

    X, y = digits
    models = {dtype: MLPClassifier((64, 32), max_iter=20, random_state=0, dtype=dtype).fit(X, y)
              for dtype in ("float32", "bfloat16")}
    f32, b16 = models["float32"], models["bfloat16"]
    assert b16.coefs_[0].dtype == np.float32
    assert not np.array_equal(b16.coefs_[0], f32.coefs_[0])  # other products
    assert abs(b16.loss_ - f32.loss_) < 0.1 * f32.loss_
    assert abs(b16.score(X, y) - f32.score(X, y)) <= 0.02


@needs_bf16
def test_bfloat16_validation_scores_take_bfloat16_products(digits):
    from fastnn import MLPClassifier

    X, y = digits
    X_train, y_train, X_val, y_val = X[:1200], y[:1200], X[1200:], y[1200:]
    model = MLPClassifier((64,), max_iter=5, random_state=0, dtype="bfloat16")
    model.fit(X_train, y_train, X_val=X_val, y_val=y_val)
    # the last epoch's weights: their float32 score is the prediction's, the
    # recorded one that of the bfloat16 products, equal but for a few rows
    assert model.history_["val_score"][-1] == pytest.approx(model.score(X_val, y_val), abs=0.01)
    out = _engine.forward(model._net, _engine.Data(X_val.astype(np.float32)), bf16=True)
    assert not np.array_equal(out, model.predict_proba(X_val).astype(np.float32))


@needs_bf16
def test_bfloat16_weights_do_not_depend_on_n_jobs(numba_threads):
    from sklearn.datasets import make_classification

    from fastnn import MLPRegressor

    numba_threads(4)
    X, y = make_classification(1500, 40, random_state=0)
    fits = [MLPRegressor(hidden_layer_sizes=(96, 48), max_iter=3, random_state=0,
                         dtype="bfloat16", dropout=0.1, n_jobs=n_jobs).fit(X, y)
            for n_jobs in (1, 2, 4)]
    for fit in fits[1:]:
        for a, b in zip(fit.coefs_, fits[0].coefs_):
            np.testing.assert_array_equal(a, b)


@needs_bf16
def test_partial_fit_and_warm_start_in_bfloat16(digits):
    from fastnn import MLPClassifier

    X, y = digits
    models = []
    for dtype in ("bfloat16", "float32"):
        model = MLPClassifier((32,), random_state=0, dtype=dtype)
        for _ in range(3):
            model.partial_fit(X, y, classes=np.unique(y))
        models.append(model.set_params(warm_start=True, max_iter=3).fit(X, y))
    b16, f32 = models
    assert b16.t_ == 6 * len(X) and b16.coefs_[0].dtype == np.float32
    assert abs(b16.score(X, y) - f32.score(X, y)) <= 0.03


@needs_bf16
def test_bfloat16_needs_a_stochastic_solver_and_leaves_the_model_as_it_was(digits):
    from fastnn import MLPClassifier

    X, y = digits
    model = MLPClassifier((8,), max_iter=2, random_state=0).fit(X, y)
    coefs = model.coefs_[0].copy()
    with pytest.raises(ValueError, match="stochastic solver"):
        model.set_params(dtype="bfloat16", solver="lbfgs").fit(X, y)
    np.testing.assert_array_equal(model.coefs_[0], coefs)


def test_without_avx512_bf16_fitting_in_bfloat16_is_refused_and_prediction_works(
        monkeypatch, digits):
    from fastnn import MLPClassifier, _base

    X, y = digits
    if _packed.has_bf16():
        model = MLPClassifier((16,), max_iter=3, random_state=0, dtype="bfloat16").fit(X, y)
    else:  # (a model as one trained in bfloat16 is: float32 weights)
        model = MLPClassifier((16,), max_iter=3, random_state=0).fit(X, y)
        model.set_params(dtype="bfloat16")
    monkeypatch.setattr(_base, "has_bf16", lambda: False)
    expected = model.predict_proba(X)
    np.testing.assert_array_equal(model.predict_proba(X), expected)
    with pytest.raises(ValueError, match="AVX512_BF16"):
        MLPClassifier((16,), dtype="bfloat16").fit(X, y)


@pytest.mark.parametrize("like", [pytest.param(BF16, marks=needs_bf16, id="bfloat16"),
                                  pytest.param(F32, id="float32")])
@pytest.mark.parametrize("m, k, n", [(1, 3, 5), (7, 9, 33), (100, 784, 100), (37, 20, 10),
                                     (256, 1024, 40), (64, 20, 64), (300, 20, 100)])
def test_weight_gradient_products(m, k, n, like):
    """``product_tn``: ``A^T D`` (a weight gradient) from ``A`` packed
    transposed (a small ``D`` read in place in float32: whole panels only,
    or with a partial one; a larger one packed)."""
    @jit
    def gradient(A, D, G, accumulate, like):
        per = _packed.per_element(like)
        scratch_a = np.zeros(_packed.size_a(A.shape[1], A.shape[0], per), like.dtype)
        scratch_b = np.zeros(max(_packed.size_b(D.shape[0], D.shape[1], per),
                                 _packed.AT_BLOCK * A.shape[1]), like.dtype)
        _packed.product_tn(A, D, G, scratch_a, scratch_b, accumulate)

    rng = np.random.default_rng(3)
    A = rng.standard_normal((m, k)).astype(np.float32)
    D = rng.standard_normal((m, n)).astype(np.float32)
    G = np.full((k, n), 7.0, dtype=np.float32)
    gradient(A, D, G, False, like)
    np.testing.assert_array_equal(G, _packed.matmul(A.T.copy(), D, like))
    gradient(A, D, G, True, like)
    np.testing.assert_allclose(G, 2 * _packed.matmul(A.T.copy(), D, like), rtol=1e-6, atol=1e-5)


@jit
def _library_calls(A, B, D, at, like, sizes):
    """Every call the kernels make into the loaded library, with buffers of
    the ``sizes`` of its layout (packed ``B``, the two scratches)."""
    m, k = A.shape
    n = B.shape[1]
    size, size_a, size_b = sizes
    held = np.zeros(at + size, like.dtype)  # (B packed from element ``at``)
    _packed.call_pack_b(B, held, at)
    held_t = np.zeros(size, like.dtype)
    _packed.call_pack_bt(B.T.copy(), held_t, 0)
    scratch_a = np.zeros(size_a, like.dtype)
    scratch_b = np.zeros(size_b, like.dtype)
    C = np.zeros((m, n), np.float32)
    _packed.call_product(A, held, at, C, scratch_a)
    C_t = np.zeros((m, n), np.float32)
    _packed.call_product(A, held_t, 0, C_t, scratch_a)
    G = np.ones((k, n), np.float32)
    _packed.call_product_tn(A, D, G, scratch_a, scratch_b, True)
    return held[at:], held_t, C, C_t, G


@jit
def _compiled_here(A, B, D, like):
    """The library's operations compiled here (``_packed``'s own layout)."""
    m, k = A.shape
    n = B.shape[1]
    per = _packed.per_element(like)
    Bp = _packed.packed_b(k, n, like)
    _packed.pack_b(B, Bp)
    scratch_a = np.zeros(max(_packed.size_a(m, k, per), _packed.size_a(k, m, per)), like.dtype)
    scratch_b = np.zeros(max(_packed.size_b(m, n, per), _packed.AT_BLOCK * k), like.dtype)
    C = np.zeros((m, n), np.float32)
    _packed.product(A, Bp, C, scratch_a)
    G = np.ones((k, n), np.float32)
    _packed.product_tn(A, D, G, scratch_a, scratch_b, True)
    return Bp.reshape(-1), C, G


@pytest.mark.parametrize("like", [pytest.param(BF16, marks=needs_bf16, id="bfloat16"),
                                  pytest.param(F32, id="float32")])
@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (13, 17, 45), (100, 64, 40), (5, 75, 50),
                                     (64, 96, 64)])
def test_the_kernels_calls_into_the_library_compute_the_products(m, k, n, like):
    """The training kernels run the products in a separately compiled library
    (``_packed.load``), through its address: the same results as the products
    compiled into the caller or, for bfloat16 on AMX tiles (another layout
    and order of the float32 sums), the float64 product of the rounded
    operands within float32 rounding.  (``B^T`` packed transposed covers
    whole blocks of 16 rows and 16 pairs, ragged rows and pairs, and an odd
    ``k``.)"""
    per = 2 if like.dtype == np.uint32 else 1
    assert _packed.load(per) in ("compiled", "found in the cache", "already loaded")
    assert _packed.load(per) == "already loaded"
    size_a, size_b = _packed.library_sizes(per)
    sizes = (size_b(k, n), max(size_a(m, k), size_a(k, m)),
             max(size_b(m, n), _packed.AT_BLOCK * k))
    rng = np.random.default_rng(5)
    A, B, D = (rng.standard_normal(shape).astype(np.float32) for shape in ((m, k), (k, n), (m, n)))
    held, held_t, C, C_t, G = _library_calls(A, B, D, 7, like, sizes)
    np.testing.assert_array_equal(held_t, held)
    np.testing.assert_array_equal(C_t, C)
    if per == 2 and _amx.has_amx():
        for result, left, right, start in ((C, A, B, 0), (G, A.T, D, 1)):
            exact = start + bf16(left) @ bf16(right)
            bound = (1 + np.abs(bf16(left)) @ np.abs(bf16(right))) * left.shape[1] * 2.0**-24
            assert np.all(np.abs(result - exact) <= bound)
    else:
        Bp, C_here, G_here = _compiled_here(A, B, D, like)
        np.testing.assert_array_equal(held, Bp)
        np.testing.assert_array_equal(C, C_here)
        np.testing.assert_array_equal(G, G_here)
    np.testing.assert_allclose(G, 1 + A.T.astype(np.float64) @ D, rtol=0.05, atol=0.05 * k)


@jit
def _amx_product(A, B, C, accumulate):
    m, k = A.shape
    n = B.shape[1]
    Ap = _amx.panels_a(np.zeros(_amx.size_a(m, k), np.uint32), m, k, _packed.MR)
    Bp = _amx.panels_b(np.zeros(_amx.size_b(k, n), np.uint32), k, n)
    _packed.pack_a(A, Ap)
    _packed.pack_b(B, Bp)
    _amx.gemm(Ap, Bp, C, accumulate)


@pytest.mark.skipif(not _amx.has_amx(), reason="no AMX-BF16 tiles here")
@pytest.mark.parametrize("m, k, n", SHAPES + [(32, 32, 32), (64, 1024, 96), (33, 31, 65)])
def test_products_on_amx_tiles(m, k, n):
    """``_amx.gemm``: whole blocks and blocks past the edges, ``k`` past
    whole tiles, zero padding; written or added."""
    A, B = operands(m, k, n)
    C = np.full((m, n), 7.0, dtype=np.float32)
    _amx_product(A, B, C, False)
    exact = bf16(A) @ bf16(B)
    bound = (np.abs(bf16(A)) @ np.abs(bf16(B))) * k * 2.0**-24
    assert np.all(np.abs(C - exact) <= bound)
    written = C.copy()
    _amx_product(A, B, C, True)  # (the written C is the start of the sums: other roundings)
    assert np.all(np.abs(C - 2 * written) <= 2 * bound + 2.0**-23 * np.abs(written))


# ---------------------------------------------------------------------------
# float32 packed products (the float32 training products on CPUs with AVX-512)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("m, k, n", SHAPES)
def test_float32_packed_products_within_float32_rounding(m, k, n):
    A, B = operands(m, k, n)
    C = _packed.matmul(A, B, F32)
    assert C.dtype == np.float32 and C.shape == (m, n)
    exact = A.astype(np.float64) @ B
    bound = (np.abs(A.astype(np.float64)) @ np.abs(B)) * (k + 1) * 2.0**-24
    assert np.all(np.abs(C - exact) <= bound)


def test_float32_packed_gradient_within_float32_rounding_of_float64():
    exact_loss, exact, loss, gradient = gradients(1)
    assert abs(loss - exact_loss) <= 1e-6 * abs(exact_loss)
    assert np.abs(gradient - exact).max() / np.abs(exact).max() < 1e-5


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_float32_fits_with_packed_and_blas_products_agree(monkeypatch, digits, solver):
    from fastnn import MLPClassifier, _config

    X, y = digits
    models = {}
    for products in ("packed", "blas"):
        monkeypatch.setattr(_config, "FLOAT32_PRODUCTS", products)
        models[products] = MLPClassifier((64, 32), max_iter=5, random_state=0, solver=solver,
                                         n_jobs=2).fit(X, y)
    packed, blas = models["packed"], models["blas"]
    # the same training, up to the rounding of the products
    assert packed.loss_ == pytest.approx(blas.loss_, rel=1e-4)
    for a, b in zip(packed.coefs_, blas.coefs_):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("n_heads", [0, 1, 4])  # 0: no front layer
def test_float32_prediction_with_packed_and_blas_products_agree(monkeypatch, digits, n_heads):
    """A prediction of enough rows packs the wide layers' weights (``W``
    only) and multiplies them packed: the output of BLAS's products, up to
    float32 rounding."""
    from fastnn import MLPClassifier, TabularMLPClassifier, _config, _engine

    X, y = digits
    if n_heads:
        model = TabularMLPClassifier((64, 48), n_heads=n_heads, n_networks=1, max_iter=3,
                                     random_state=0)
    else:
        model = MLPClassifier((64, 48), max_iter=3, random_state=0)
    model.fit(X, y)
    calls = []
    buffers = _engine.packed_buffers

    def spy(net, cap, n_members, per, backward=True):
        calls.append(buffers(net, cap, n_members, per, backward))
        return calls[-1]

    monkeypatch.setattr(_engine, "packed_buffers", spy)
    proba = {}
    for products in ("packed", "blas"):
        monkeypatch.setattr(_config, "FLOAT32_PRODUCTS", products)
        proba[products] = model.predict_proba(X[:300])
    offsets = calls[0][1]
    assert (offsets[:, 0] >= 0).any() and (offsets[:, 1] < 0).all()
    assert (calls[1][1] < 0).all()
    np.testing.assert_allclose(proba["packed"], proba["blas"], rtol=1e-4, atol=1e-6)
    # a few rows: BLAS's products, packing the weights would cost more than it saves
    monkeypatch.setattr(_config, "FLOAT32_PRODUCTS", "packed")
    few = X[:_config.PREDICT_PACKED_MIN_ROWS - 1]
    if n_heads:
        model, few = model.networks_[0], model._encode(few, reset=False)
    _engine.forward(model._network(), _engine.Data(few, dtype=np.float32))
    assert len(calls) == 3 and (calls[-1][1] < 0).all()


def test_float32_packed_weights_do_not_depend_on_n_jobs(monkeypatch, numba_threads):
    from sklearn.datasets import make_classification

    from fastnn import MLPRegressor, _config

    monkeypatch.setattr(_config, "FLOAT32_PRODUCTS", "packed")
    numba_threads(4)
    X, y = make_classification(1500, 40, random_state=0)
    fits = [MLPRegressor(hidden_layer_sizes=(96, 48), max_iter=3, random_state=0,
                         dropout=0.1, n_jobs=n_jobs).fit(X, y)
            for n_jobs in (1, 2, 4)]
    for fit in fits[1:]:
        for a, b in zip(fit.coefs_, fits[0].coefs_):
            np.testing.assert_array_equal(a, b)
