"""Register-blocked matrix products of packed operands: bfloat16 or float32.

The products of training with packed operands (``_kernels``): ``C = A B``
(or ``C += A B``), accumulated in float32, in one of two precisions chosen
by the packed arrays' dtype:

* bfloat16 (uint32 arrays): the operands rounded to bfloat16 (round to
  nearest even), two values of ``k`` per uint32, and the products summed in
  float32, as PyTorch's CPU autocast does.  The instruction is
  ``vdpbf16ps`` (AVX512_BF16): for every float32 lane of a 512-bit
  register, ``acc += a[2i] b[2i] + a[2i+1] b[2i+1]`` over pairs of bf16
  values (a product of two bf16 values is exact in float32).  Numba cannot
  spell the ``<32 x bfloat>`` type LLVM's intrinsic wants, so the
  instruction is emitted as inline assembly over ``<16 x i32>`` registers
  holding the pairs.
* float32 (float32 arrays): one value of ``k`` per element, fused
  multiply-adds on 16-float vectors.  On CPUs whose BLAS build runs 256-bit
  kernels although the cores have 512-bit units, these are faster than
  BLAS; they also spare a small product BLAS's own packing.

Operands are packed first, as in every register-blocked GEMM:

* ``A`` (``m x k``) into panels of ``MR`` rows: ``Ap[i, r, p]`` holds
  ``A[i MR + r, p]`` (float32) or the pair ``A[i MR + r, 2p : 2p + 2]``
  (bfloat16), each row converted in place: the microkernel reads ``MR``
  rows side by side;
* ``B`` (``k x n``) into panels of ``NR`` columns: ``Bp[j, p, c]`` holds
  ``B[p, j NR + c]`` or the pair ``B[2p : 2p + 2, j NR + c]``;

padded with zeros to whole panels (and for bfloat16 an even ``k``).  The
microkernel (``_tile``) then computes an ``MR x NR``
tile of ``C`` (float32, unit column stride) in ``MR * NV`` registers: per
element of ``k``, ``NV`` loads of ``B``, ``MR`` broadcasts of ``A`` and
``MR * NV`` multiply-adds.  Packing is separate from the product, so that an
operand used in several products is packed once.

Only CPUs with AVX512_BF16 run the bfloat16 kernels (``has_bf16``); the
float32 ones are chosen where the CPU has AVX-512 (``has_avx512``).  Where
the CPU also has AMX-BF16 (``_amx.has_amx``), the bfloat16 products of
training run on AMX tiles instead: the same packing functions, into
operands padded to whole tiles (``library_sizes``), multiplied by
``_amx.gemm``.

The training kernels do not compile these functions into themselves: they
call one C function per precision, compiled once (``load``), through a
table of addresses (the end of this module).
"""

import ctypes
import functools
import os

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils, sigutils
from numba.core.ccallback import CFunc
from numba.extending import intrinsic, overload

from . import _amx, _cache
from ._config import JIT_OPTIONS, jit, jit_entry, jit_inline
from ._intrinsics import c_view

__all__ = ["AT_BLOCK", "MR", "NR", "has_avx512", "has_bf16", "size_a", "size_b", "pack_a",
           "pack_at", "pack_b", "pack_bt", "packed_a", "packed_b", "panels_b", "gemm_packed",
           "matmul", "product", "product_tn", "library_sizes", "load", "call_product",
           "call_product_tn", "call_pack_b", "call_pack_bt"]

MR = 8       # rows of a tile
NV = 2       # 16-float registers across a tile's row
NR = 16 * NV  # columns of a tile
AT_BLOCK = 8  # pairs of rows per pass of pack_at
# A float32 weight gradient ``A^T D`` reads the deltas ``D`` in place rather
# than packed when ``A`` has at most IN_PLACE_MAX_COLUMNS columns (every
# packed panel of D would be read by at most 4 row panels of the result,
# too few to pay for packing it) and D at most IN_PLACE_MAX elements (a small
# one stays in cache; the rows of a large one, often a power of two apart,
# would compete for the same cache sets).
IN_PLACE_MAX_COLUMNS = 4 * MR
IN_PLACE_MAX = 1 << 14

_F32 = ir.FloatType()
_I32 = ir.IntType(32)
_V16F = ir.VectorType(_F32, 16)
_V16I = ir.VectorType(_I32, 16)
# acc (tied to the output), a, b -> acc + pairwise a.b (AT&T operand order)
_DPBF16 = ir.InlineAsm(ir.FunctionType(_V16F, [_V16F, _V16I, _V16I]),
                       "vdpbf16ps $3, $2, $0", "=v,0,v,v")

# Inline assembly is parsed whenever LLVM emits code that contains it: also
# when a kernel loaded from the cache is linked into one compiled anew.
llvm.initialize_native_asmparser()


@functools.cache
def has_bf16():
    """Whether this CPU has AVX512_BF16 (``vdpbf16ps``)."""
    return bool(llvm.get_host_cpu_features().get("avx512bf16", False))


@functools.cache
def has_avx512():
    """Whether this CPU has AVX-512 (512-bit float32 multiply-adds)."""
    return bool(llvm.get_host_cpu_features().get("avx512f", False))


_OPAQUE_POINTERS = str(_V16F.as_pointer()) == "ptr"


def _masked(name, vector):
    """The name of LLVM's masked ``name`` ("load" or "store") of ``vector``;
    it carries the pointer type, "p0" for opaque pointers (else "p0v16f32")."""
    element = "i32" if vector == _V16I else "f32"
    pointer = "p0" if _OPAQUE_POINTERS else f"p0v16{element}"
    return f"llvm.masked.{name}.v16{element}.{pointer}"


def _broadcast(builder, vector, value):
    """``value`` in every lane of a ``vector``-typed register."""
    undefined = ir.Constant(vector, None)
    return builder.shuffle_vector(builder.insert_element(undefined, value, ir.Constant(_I32, 0)),
                                  undefined, ir.Constant(_V16I, [0] * 16))


def _masked_load(builder, vector, ptr, mask):
    """The lanes of ``mask`` loaded from ``ptr`` (a ``vector`` pointer), zeros
    in the others; masked-off lanes are not read (no fault past an array's end)."""
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vector, [vector.as_pointer(), _I32, mask.type, vector]),
        _masked("load", vector))
    return builder.call(fn, [ptr, ir.Constant(_I32, 4), mask, ir.Constant(vector, None)])


def _masked_store(builder, value, ptr, mask):
    """Store the lanes of ``mask`` of the 16-float ``value`` at ``ptr``."""
    fn = cgutils.get_or_insert_function(
        builder.module,
        ir.FunctionType(ir.VoidType(), [_V16F, _V16F.as_pointer(), _I32, mask.type]),
        _masked("store", _V16F))
    builder.call(fn, [value, ptr, ir.Constant(_I32, 4), mask])


@intrinsic
def _tile(typingctx, C, ci, cj, Ap, i, Bp, j, accumulate, rows, cols):
    """The microkernel: ``C[ci:ci+rows, cj:cj+cols] = Ap[i] . Bp[j]`` (``+=``
    with ``accumulate``) over the ``k2`` packed elements of ``k`` (bfloat16
    pairs or float32 values, by the packed arrays' dtype), ``C`` a float32
    matrix whose rows are contiguous, ``rows <= MR``, ``cols <= NR``: a whole
    ``MR x NR`` tile is computed, its part inside ``C`` stored (masked
    vector stores at the right edge).  A float32 ``Bp`` may also be the
    ``k x n`` matrix itself (2-D, rows contiguous), whose columns ``j NR`` to
    ``j NR + cols`` it then reads in place (masked loads: nothing past them
    is read).  Every call expands to a whole tile (an intrinsic is inlined),
    so ``gemm_packed`` makes one call for all tiles."""
    if not (isinstance(C, types.Array) and C.ndim == 2 and C.dtype == types.float32
            and isinstance(Ap, types.Array) and Ap.ndim == 3
            and Ap.dtype in (types.uint32, types.float32)
            and isinstance(Bp, types.Array) and Bp.dtype == Ap.dtype
            and (Bp.ndim == 3 or Bp.ndim == 2 and Bp.dtype == types.float32)
            and isinstance(rows, types.Integer) and isinstance(cols, types.Integer)):
        return None
    pairs = Ap.dtype == types.uint32
    vector = _V16I if pairs else _V16F
    sig = types.void(C, ci, cj, Ap, i, Bp, j, types.boolean, rows, cols)

    def codegen(context, builder, signature, args):
        c_ty, _, _, a_ty, _, b_ty, _, _, _, _ = signature.args
        c = context.make_array(c_ty)(context, builder, args[0])
        a = context.make_array(a_ty)(context, builder, args[3])
        b = context.make_array(b_ty)(context, builder, args[5])
        i64 = ir.IntType(64)
        ci_, cj_, ia, jb, rows_, cols_ = (builder.sext(v, i64) if v.type.width < 64 else v
                                          for v in (args[1], args[2], args[4], args[6],
                                                    args[8], args[9]))
        # the lanes of register v inside C: columns 16 v + lane < cols
        v16i64 = ir.VectorType(i64, 16)
        lanes = ir.Constant(v16i64, list(range(16)))
        masks = [builder.icmp_signed("<", lanes, _broadcast(
            builder, v16i64, builder.sub(cols_, ir.Constant(i64, 16 * v)))) for v in range(NV)]
        k2 = builder.extract_value(a.shape, 2)
        a_base = builder.gep(a.data, [builder.mul(ia, builder.mul(k2, ir.Constant(i64, MR)))])
        if b_ty.ndim == 3:  # panel j of the packed B: k2 rows of NR
            b_base = builder.gep(b.data, [builder.mul(jb, builder.mul(k2, ir.Constant(i64, NR)))])
            b_step = ir.Constant(i64, NR)
        else:  # columns j NR ... of a float32 B read in place, rows apart by its stride
            b_base = builder.gep(b.data, [builder.mul(jb, ir.Constant(i64, NR))])
            b_step = builder.sdiv(builder.extract_value(b.strides, 0), ir.Constant(i64, 4))
        accs = [[cgutils.alloca_once_value(builder, ir.Constant(_V16F, [0.0] * 16))
                 for _ in range(NV)] for _ in range(MR)]
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_V16F, [_V16F] * 3), "llvm.fma.v16f32")
        with cgutils.for_range(builder, k2) as loop:
            p = loop.index
            b_row = builder.gep(b_base, [builder.mul(p, b_step)])
            b_ptrs = [builder.bitcast(builder.gep(b_row, [ir.Constant(i64, 16 * v)]),
                                      vector.as_pointer()) for v in range(NV)]
            if b_ty.ndim == 3:
                b_vecs = [builder.load(ptr, align=4) for ptr in b_ptrs]
            else:
                b_vecs = [_masked_load(builder, vector, ptr, mask)
                          for ptr, mask in zip(b_ptrs, masks)]
            a_col = builder.gep(a_base, [p])
            for r in range(MR):
                value = builder.load(builder.gep(a_col, [builder.mul(k2, ir.Constant(i64, r))]))
                broadcast = _broadcast(builder, vector, value)
                for v in range(NV):
                    acc = builder.load(accs[r][v])
                    if pairs:
                        acc = builder.call(_DPBF16, [acc, broadcast, b_vecs[v]])
                    else:
                        acc = builder.call(fma, [broadcast, b_vecs[v], acc])
                    builder.store(acc, accs[r][v])
        row_bytes = builder.extract_value(c.strides, 0)
        origin = builder.ptrtoint(c.data, i64)
        for r in range(MR):
            with builder.if_then(builder.icmp_signed(">", rows_, ir.Constant(i64, r))):
                row = builder.add(origin, builder.mul(builder.add(ci_, ir.Constant(i64, r)),
                                                      row_bytes))
                for v in range(NV):
                    col = builder.add(cj_, ir.Constant(i64, 16 * v))
                    address = builder.add(row, builder.mul(col, ir.Constant(i64, 4)))
                    ptr = builder.inttoptr(address, _V16F.as_pointer())
                    value = builder.load(accs[r][v])
                    value = builder.select(
                        args[7], builder.fadd(_masked_load(builder, _V16F, ptr, masks[v]), value),
                        value)
                    _masked_store(builder, value, ptr, masks[v])
        return context.get_dummy_value()

    return sig, codegen


@jit_inline
def _bits(x):
    """The bf16 rounding (to nearest even) of the float32 ``x``, as the low 16 bits."""
    b = np.float32(x).view(np.uint32)
    return (b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)


@jit_inline
def _pair(lo, hi):
    """``lo`` and ``hi`` rounded to bf16, in the low and high halves of a uint32."""
    return _bits(lo) | (_bits(hi) << np.uint32(16))


def per_element(buf):
    """Values of ``k`` per element of the packed array ``buf``: 2 (bfloat16
    pairs in a uint32) or 1 (float32)."""


@overload(per_element, inline="always")
def _per_element_by_type(buf):
    per = 2 if buf.dtype == types.uint32 else 1
    return lambda buf: per


@jit_inline
def size_a(m, k, per):
    """Elements of the packed form of an ``m x k`` left operand (``per``: as
    ``per_element``)."""
    return (m + MR - 1) // MR * ((k + per - 1) // per) * MR


@jit_inline
def size_b(k, n, per):
    """Elements of the packed form of a ``k x n`` right operand."""
    return (n + NR - 1) // NR * ((k + per - 1) // per) * NR


@jit_inline
def _panels_a(buf, m, k):
    """The first ``size_a(m, k, per)`` elements of ``buf`` as ``pack_a``'s array."""
    per = per_element(buf)
    return c_view(buf, 0, ((m + MR - 1) // MR, MR, (k + per - 1) // per))


@jit_inline
def panels_b(buf, k, n):
    """The first ``size_b(k, n, per)`` elements of ``buf`` as ``pack_b``'s array."""
    per = per_element(buf)
    return c_view(buf, 0, ((n + NR - 1) // NR, (k + per - 1) // per, NR))


@jit
def product(A, Bp, C, scratch):
    """``C = A B`` for a packed ``B`` (``Bp``), ``A`` packed into ``scratch``."""
    Ap = _panels_a(scratch, A.shape[0], A.shape[1])
    pack_a(A, Ap)
    gemm_packed(Ap, Bp, C, False)


@jit
def product_tn(A, D, G, scratch_a, scratch_b, accumulate):
    """``G = A^T D`` (``G += A^T D`` with ``accumulate``): a weight gradient,
    from a block's inputs ``A`` and deltas ``D``, packed into the scratches."""
    Ap = _panels_a(scratch_a, A.shape[1], A.shape[0])
    pack_at(A, Ap, scratch_b)  # (scratch_b is free until D is packed)
    _times_deltas(Ap, D, G, scratch_b, accumulate)


def _times_deltas(Ap, D, G, scratch, accumulate):
    """``G = A^T D`` (``+=``) for a packed ``A^T``: ``D`` packed into
    ``scratch``, or in float32 read in place where that pays
    (``IN_PLACE_MAX_COLUMNS``)."""


@overload(_times_deltas, inline="always")
def _times_deltas_by_type(Ap, D, G, scratch, accumulate):
    if Ap.dtype == types.uint32:
        return lambda Ap, D, G, scratch, accumulate: _times_packed_deltas(Ap, D, G, scratch,
                                                                          accumulate)

    def single(Ap, D, G, scratch, accumulate):
        if Ap.shape[0] * MR <= IN_PLACE_MAX_COLUMNS and D.shape[0] * D.shape[1] <= IN_PLACE_MAX:
            gemm_packed(Ap, D, G, accumulate)
        else:
            _times_packed_deltas(Ap, D, G, scratch, accumulate)
    return single


@jit_inline
def _times_packed_deltas(Ap, D, G, scratch, accumulate):
    """``_times_deltas`` with ``D`` packed into ``scratch``."""
    Dp = panels_b(scratch, D.shape[0], D.shape[1])
    pack_b(D, Dp)
    gemm_packed(Ap, Dp, G, accumulate)


@jit
def packed_a(m, k, like):
    """An empty array for ``pack_a`` of an ``m x k`` matrix, of ``like``'s dtype."""
    per = per_element(like)
    return _panels_a(np.empty(size_a(m, k, per), dtype=like.dtype), m, k)


@jit
def packed_b(k, n, like):
    """An empty array for ``pack_b`` of a ``k x n`` matrix, of ``like``'s dtype."""
    per = per_element(like)
    return panels_b(np.empty(size_b(k, n, per), dtype=like.dtype), k, n)


# The packing loops below run over contiguous pairs of their source, with
# the ragged ends (an odd k, a last panel of fewer rows or columns) apart, so
# that their inner loops have no branch and vectorise.


@jit
def _pack_a_pairs(A, out):
    """``pack_a`` into bfloat16 pairs."""
    m, k = A.shape
    full = k // 2
    flat = c_view(out, 0, (out.size,))
    # without padding, the pairs of a row follow those of the row above, as in A
    if k % 2 == 0 and out.shape[2] == full:
        source = A.reshape(-1)
        for q in range(m * full):
            flat[q] = _pair(source[2 * q], source[2 * q + 1])
        flat[m * full:] = 0  # (the rows of the last panel past m)
        return
    for i in range(out.shape[0]):
        for r in range(MR):
            row = i * MR + r
            o = out[i, r]
            if row < m:
                a = A[row]
                for p in range(full):
                    o[p] = _pair(a[2 * p], a[2 * p + 1])
                if k % 2:
                    o[full] = _pair(a[k - 1], 0.0)
                o[(k + 1) // 2:] = 0  # (padding pairs: ``_amx``'s layout)
            else:
                for p in range(o.shape[0]):
                    o[p] = 0


@jit
def _pack_at_pairs(A, out, scratch):
    """``pack_at`` into bfloat16 pairs.

    ``out[i, r, p]`` is element ``(i MR + r) k2 + p`` (``k2 = out.shape[2]``):
    the pairs of rows ``2p, 2p + 1`` of ``A`` form column ``p`` of a
    ``k x k2`` matrix, zeros past ``p = ceil(m / 2)``.  ``AT_BLOCK`` such
    columns at a time are converted into ``scratch`` (a pass along two rows,
    vectorised), then stored row by row (``AT_BLOCK`` contiguous elements
    each), so that both the reads and the writes run along cache lines.
    """
    m, k = A.shape
    k2, used = out.shape[2], (m + 1) // 2
    flat = c_view(out, 0, (out.size,))
    for p0 in range(0, used, AT_BLOCK):
        n_p = min(AT_BLOCK, used - p0)
        for q in range(n_p):
            p = p0 + q
            a0 = A[2 * p]
            t = scratch[q * k:(q + 1) * k]
            if 2 * p + 1 < m:
                a1 = A[2 * p + 1]
                for c in range(k):
                    t[c] = _pair(a0[c], a1[c])
            else:
                for c in range(k):
                    t[c] = _pair(a0[c], 0.0)
        if n_p == AT_BLOCK:  # (a constant trip count: the inner loop unrolls)
            for c in range(k):
                o = flat[c * k2 + p0:c * k2 + p0 + AT_BLOCK]
                for q in range(AT_BLOCK):
                    o[q] = scratch[q * k + c]
        else:
            for c in range(k):
                o = flat[c * k2 + p0:c * k2 + p0 + n_p]
                for q in range(n_p):
                    o[q] = scratch[q * k + c]
    if used < k2:
        for c in range(k):
            flat[c * k2 + used:(c + 1) * k2] = 0
    for c in range(k * k2, flat.shape[0]):
        flat[c] = 0  # the rows of the last panel past k


@jit
def _pack_b_pairs(B, out):
    """``pack_b`` into bfloat16 pairs: along pairs of ``B``'s rows, read
    whole, each written into every panel."""
    k, n = B.shape
    whole = n // NR  # panels of NR columns of B
    zeros = np.zeros(n, dtype=B.dtype)  # (an odd k's last pair: zeros in its second row)
    for p in range((k + 1) // 2):
        b0 = B[2 * p]
        b1 = B[2 * p + 1] if 2 * p + 1 < k else zeros
        for j in range(whole):
            o = out[j, p]
            c0 = j * NR
            for c in range(NR):
                o[c] = _pair(b0[c0 + c], b1[c0 + c])
        if whole < out.shape[0]:
            o = out[whole, p]
            c0 = whole * NR
            for c in range(n - c0):
                o[c] = _pair(b0[c0 + c], b1[c0 + c])
            o[n - c0:] = 0
    out[:, (k + 1) // 2:] = 0


@intrinsic
def _pairs_transposed(typingctx, W, r0, p0, out, j, c0):
    """``out[j, p0 + q, c0 + r] = pair(W[r0 + r, 2 (p0 + q) : 2 (p0 + q) + 2])``
    for ``q, r < 16``: a block of 16 rows and 32 columns of the float32 ``W``
    (rows contiguous) rounded to bfloat16 pairs (as ``_pair``) and transposed
    in registers, so that both its loads and its stores are whole vectors.
    ``out`` is a C-contiguous uint32 array of three dimensions."""
    if not (isinstance(W, types.Array) and W.ndim == 2 and W.dtype == types.float32
            and isinstance(out, types.Array) and out.ndim == 3 and out.dtype == types.uint32
            and out.layout == "C"):
        return None
    sig = types.void(W, r0, p0, out, j, c0)

    def codegen(context, builder, signature, args):
        w = context.make_array(signature.args[0])(context, builder, args[0])
        o = context.make_array(signature.args[3])(context, builder, args[3])
        i64 = ir.IntType(64)
        r0_, p0_, j_, c0_ = (builder.sext(v, i64) if v.type.width < 64 else v
                             for v in (args[1], args[2], args[4], args[5]))
        v16h = ir.VectorType(ir.IntType(16), 16)
        row_step = builder.sdiv(builder.extract_value(w.strides, 0), ir.Constant(i64, 4))
        first = builder.gep(w.data, [builder.add(builder.mul(r0_, row_step),
                                                 builder.mul(p0_, ir.Constant(i64, 2)))])

        def splat(value):
            return ir.Constant(_V16I, [value] * 16)

        def rounded(ptr):  # 16 floats -> their bf16 bits (_bits), as 16 x i16
            b = builder.bitcast(builder.load(builder.bitcast(ptr, _V16F.as_pointer()),
                                             align=4), _V16I)
            odd = builder.and_(builder.lshr(b, splat(16)), splat(1))
            b = builder.lshr(builder.add(builder.add(b, splat(0x7FFF)), odd), splat(16))
            return builder.trunc(b, v16h)

        rows = []
        for r in range(16):
            ptr = builder.gep(first, [builder.mul(ir.Constant(i64, r), row_step)])
            both = builder.shuffle_vector(
                rounded(ptr), rounded(builder.gep(ptr, [ir.Constant(i64, 16)])),
                ir.Constant(ir.VectorType(_I32, 32), list(range(32))))
            rows.append(builder.bitcast(both, _V16I))
        # transpose: for every bit h of the index, swap that bit between row
        # and column (the off-diagonal h x h blocks of every 2h x 2h block)
        h = 8
        while h:
            for i in range(16):
                if i & h:
                    continue
                low = [c if not c & h else 16 + c - h for c in range(16)]
                high = [c + h if not c & h else 16 + c for c in range(16)]
                a, b = rows[i], rows[i + h]
                rows[i] = builder.shuffle_vector(a, b, ir.Constant(_V16I, low))
                rows[i + h] = builder.shuffle_vector(a, b, ir.Constant(_V16I, high))
            h //= 2
        k2 = builder.extract_value(o.shape, 1)
        width = builder.extract_value(o.shape, 2)
        start = builder.add(builder.mul(builder.add(builder.mul(j_, k2), p0_), width), c0_)
        for q in range(16):
            ptr = builder.gep(o.data, [builder.add(start, builder.mul(ir.Constant(i64, q),
                                                                      width))])
            builder.store(rows[q], builder.bitcast(ptr, _V16I.as_pointer()), align=4)
        return context.get_dummy_value()

    return sig, codegen


@jit
def _pack_bt_pairs(W, out):
    """``pack_bt`` into bfloat16 pairs: blocks of 16 rows by 32 columns of
    ``W`` transposed in registers (``_pairs_transposed``), the ragged ends
    pair by pair."""
    n, k = W.shape
    full = k // 2
    # pairs in whole blocks (none where W's rows are strided: the blocks
    # load 16 contiguous floats)
    blocks = full // 16 * 16 if W.strides[1] == W.itemsize else 0
    for j in range(out.shape[0]):
        for c0 in range(0, NR, 16):
            r0 = j * NR + c0
            done = blocks if r0 + 16 <= n else 0
            for p in range(0, done, 16):
                _pairs_transposed(W, r0, p, out, j, c0)
            for c in range(16):
                if r0 + c < n:
                    w = W[r0 + c]
                    for p in range(done, full):
                        out[j, p, c0 + c] = _pair(w[2 * p], w[2 * p + 1])
                    if k % 2:
                        out[j, full, c0 + c] = _pair(w[k - 1], 0.0)
                    for p in range((k + 1) // 2, out.shape[1]):
                        out[j, p, c0 + c] = 0
                else:
                    for p in range(out.shape[1]):
                        out[j, p, c0 + c] = 0


def pack_a(A, out):
    """Pack ``A`` (``m x k``, rows contiguous) into ``out`` (``packed_a(m, k, out)``),
    as bfloat16 pairs or float32 values by ``out``'s dtype."""


def pack_at(A, out, scratch):
    """Pack ``A^T`` into ``out`` (``packed_a(k, m, out)`` for ``A`` of ``m x k``,
    rows contiguous): the left operand of a weight gradient ``A^T D``.
    ``scratch`` holds ``AT_BLOCK * k`` elements of ``out``'s dtype."""


def pack_b(B, out):
    """Pack ``B`` (``k x n``, rows contiguous) into ``out`` (``packed_b(k, n, out)``)."""


def pack_bt(W, out):
    """Pack ``W^T`` into ``out`` (``packed_b(k, n, out)`` for ``W`` of ``n x k``,
    rows contiguous): the right operand of the deltas sent down, ``D W^T``."""


# (each packing function picks its precision by the type of ``out``)


@overload(pack_a, inline="always")
def _pack_a_by_type(A, out):
    if out.dtype == types.uint32:
        return lambda A, out: _pack_a_pairs(A, out)
    return lambda A, out: _pack_a_single(A, out)


@overload(pack_at, inline="always")
def _pack_at_by_type(A, out, scratch):
    if out.dtype == types.uint32:
        return lambda A, out, scratch: _pack_at_pairs(A, out, scratch)
    return lambda A, out, scratch: _pack_at_single(A, out)


@overload(pack_b, inline="always")
def _pack_b_by_type(B, out):
    if out.dtype == types.uint32:
        return lambda B, out: _pack_b_pairs(B, out)
    return lambda B, out: _pack_b_single(B, out)


@overload(pack_bt, inline="always")
def _pack_bt_by_type(W, out):
    if out.dtype == types.uint32:
        return lambda W, out: _pack_bt_pairs(W, out)
    return lambda W, out: _pack_bt_single(W, out)


# float32: copies into the panels, padded with zeros


@jit
def _pack_a_single(A, out):
    # the panels hold A's rows in A's order: one copy, then zeros for the
    # rows of the last panel past m
    flat = c_view(out, 0, (out.size,))
    source = A.reshape(-1)
    size = source.shape[0]
    for q in range(size):
        flat[q] = source[q]
    flat[size:] = 0


@jit
def _pack_at_single(A, out):
    # out[i, r, p] = A[p, i MR + r]: element c k2 + p of out for column c of A
    # (as in _pack_at_pairs), AT_BLOCK rows of A at a time
    m, k = A.shape
    flat = c_view(out, 0, (out.size,))
    for p0 in range(0, m, AT_BLOCK):
        if p0 + AT_BLOCK <= m:  # (a constant trip count: the inner loop unrolls)
            for c in range(k):
                o = flat[c * m + p0:c * m + p0 + AT_BLOCK]
                for q in range(AT_BLOCK):
                    o[q] = A[p0 + q, c]
        else:
            for c in range(k):
                o = flat[c * m + p0:c * m + m]
                for q in range(m - p0):
                    o[q] = A[p0 + q, c]
    flat[k * m:] = 0


@jit
def _pack_b_single(B, out):
    k, n = B.shape
    for j in range(out.shape[0]):
        c0 = j * NR
        width = min(NR, n - c0)
        for p in range(k):
            b = B[p, c0:c0 + width]
            o = out[j, p]
            for c in range(width):
                o[c] = b[c]
            for c in range(width, NR):
                o[c] = 0


@jit
def _pack_bt_single(W, out):
    n, k = W.shape
    for j in range(out.shape[0]):
        for c in range(NR):
            row = j * NR + c
            if row < n:
                w = W[row]
                for p in range(k):
                    out[j, p, c] = w[p]
            else:
                for p in range(k):
                    out[j, p, c] = 0


@jit
def gemm_packed(Ap, Bp, C, accumulate):
    """``C = A B`` (``C += A B`` with ``accumulate``) from the packed ``A``
    and ``B``, or a float32 ``B`` (``k x n``, rows contiguous) read in place.

    ``C`` is ``m x n`` float32 with contiguous rows, written tile by tile.
    """
    m, n = C.shape
    for j in range((n + NR - 1) // NR):
        cols = min(NR, n - j * NR)
        for i in range(Ap.shape[0]):
            _tile(C, i * MR, j * NR, Ap, i, Bp, j, accumulate, min(MR, m - i * MR), cols)


@jit_entry
def matmul(A, B, like):
    """``A @ B`` as a new float32 array, with the operands packed as ``like``:
    a uint32 array (bfloat16 operands, float32 sums) or a float32 one."""
    m, k = A.shape
    n = B.shape[1]
    Ap = packed_a(m, k, like)
    Bp = packed_b(k, n, like)
    pack_a(A, Ap)
    pack_b(B, Bp)
    C = np.empty((m, n), dtype=np.float32)
    gemm_packed(Ap, Bp, C, False)
    return C


# ---------------------------------------------------------------------------
# The products as a library of their own, called by the training kernels
# ---------------------------------------------------------------------------
#
# Numba links the code of every jitted callee into each caller and compiles
# it again there, so the products, compiled into every training kernel that
# uses them, would add seconds to each.  Instead ``_operate`` (or, for
# bfloat16 on AMX tiles, ``_operate_amx``) runs them all, compiled once per
# precision as a C function (``numba.cfunc``, cached on disk as the kernels
# are), and the kernels call it through ``_TABLE``, an array of its
# addresses that they find by symbol name when they are linked.
# A kernel thus compiles, and is cached, without the products (which
# another process can compile meanwhile); ``load`` enters their address in
# the table, and the engine calls it before a kernel that uses them runs.

_FORWARD, _WEIGHT_GRADIENT, _PACK_B, _PACK_BT = range(4)  # ``_operate``'s operations

#: Values of ``k`` per packed element -> the packed arrays' dtype.
PRECISIONS = {1: types.float32, 2: types.uint32}

_TABLE_SYMBOL = "fastnn_packed_products"
_TABLE = (ctypes.c_void_p * len(PRECISIONS))()  # entry per - 1
llvm.add_symbol(_TABLE_SYMBOL, ctypes.addressof(_TABLE))
_loaded = {}  # per -> the compiled ``_operate`` (kept alive: the table points into it)


def _signature(per):
    """``_operate``'s C signature for products of ``per_element`` ``per``."""
    f, u, i = types.CPointer(types.float32), types.CPointer(PRECISIONS[per]), types.intp
    return types.void(i, f, f, f, u, u, u, i, i, i, i)


def _operate(op, x, y, z, p, s1, s2, m, k, n, flag):
    """Operation ``op`` over the float32 matrices at ``x``, ``y``, ``z`` and
    the packed arrays at ``p``, ``s1``, ``s2`` (rows contiguous):

    * ``_FORWARD``: ``z = x B`` (``m x n``, ``x`` ``m x k``), ``B`` packed at
      ``p``, ``x`` packed into ``s1``;
    * ``_WEIGHT_GRADIENT``: ``z = x^T y`` (``k x n``; ``+=`` if ``flag``), ``x``
      ``m x k``, ``y`` ``m x n``, packed into ``s1`` and ``s2``;
    * ``_PACK_B``: ``x`` (``k x n``) packed into ``p``;
    * ``_PACK_BT``: ``x^T`` (``x`` ``n x k``) packed into ``p``.
    """
    per = per_element(carray(p, 0))
    if op == _FORWARD:
        product(carray(x, (m, k)), panels_b(carray(p, size_b(k, n, per)), k, n),
                carray(z, (m, n)), carray(s1, size_a(m, k, per)))
    elif op == _WEIGHT_GRADIENT:
        product_tn(carray(x, (m, k)), carray(y, (m, n)), carray(z, (k, n)),
                   carray(s1, size_a(k, m, per)),
                   carray(s2, max(size_b(m, n, per), AT_BLOCK * k)), flag != 0)
    elif op == _PACK_B:
        pack_b(carray(x, (k, n)), panels_b(carray(p, size_b(k, n, per)), k, n))
    else:
        pack_bt(carray(x, (n, k)), panels_b(carray(p, size_b(k, n, per)), k, n))


def _operate_amx(op, x, y, z, p, s1, s2, m, k, n, flag):
    """``_operate`` for bfloat16 on AMX tiles: the operands packed in
    ``_amx``'s layout, multiplied by ``_amx.gemm``."""
    if op == _FORWARD:
        Ap = _amx.panels_a(carray(s1, _amx.size_a(m, k)), m, k, MR)
        pack_a(carray(x, (m, k)), Ap)
        _amx.gemm(Ap, _amx.panels_b(carray(p, _amx.size_b(k, n)), k, n), carray(z, (m, n)),
                  False)
    elif op == _WEIGHT_GRADIENT:
        Ap = _amx.panels_a(carray(s1, _amx.size_a(k, m)), k, m, MR)
        scratch = carray(s2, max(_amx.size_b(m, n), AT_BLOCK * k))
        pack_at(carray(x, (m, k)), Ap, scratch)
        Dp = _amx.panels_b(scratch, m, n)
        pack_b(carray(y, (m, n)), Dp)
        _amx.gemm(Ap, Dp, carray(z, (k, n)), flag != 0)
    elif op == _PACK_B:
        pack_b(carray(x, (k, n)), _amx.panels_b(carray(p, _amx.size_b(k, n)), k, n))
    else:
        pack_bt(carray(x, (n, k)), _amx.panels_b(carray(p, _amx.size_b(k, n)), k, n))


def _library(per):
    """The function ``load(per)`` compiles: ``_operate``, or for bfloat16 on
    a CPU with AMX tiles (``_amx.has_amx``), ``_operate_amx``."""
    return _operate_amx if per == 2 and _amx.has_amx() else _operate


def library_sizes(per):
    """``size_a`` and ``size_b`` (Python functions of ``(m, k)`` and ``(k, n)``)
    of the packed layout of the library ``load(per)`` loads: the sizes of
    the buffers the kernels pass to it."""
    if _library(per) is _operate_amx:
        return _amx.size_a.py_func, _amx.size_b.py_func
    return (lambda m, k: size_a.py_func(m, k, per)), (lambda k, n: size_b.py_func(k, n, per))


def load(per):
    """Make the products of ``per_element`` ``per`` (1: float32, 2: bfloat16)
    callable from the kernels: compile their library (``_library``), or load
    it from the on-disk cache, and enter its address in the table.

    Returns what happened: "compiled", "found in the cache" or "already
    loaded".  Processes sharing the cache compile it once: the others wait
    for it, then load it.
    """
    if per in _loaded:
        return "already loaded"
    options = {key: value for key, value in JIT_OPTIONS.items() if key != "cache"}
    library = _library(per)
    products = CFunc(library, sigutils.normalize_signature(_signature(per)), locals={},
                     options=options)
    products.enable_caching()
    # (loaded as the kernels are, without Numba's refresh of its compiler)
    products._cache.load_overload = _cache._loader(products._cache)
    lock = os.path.join(_cache.cache_dir(), f"{__name__}.{library.__name__}-{per}.lock")
    with _cache.file_lock(lock):
        products.compile()
    _TABLE[per - 1] = products.address
    _loaded[per] = products
    return "found in the cache" if products.cache_hits else "compiled"


@intrinsic
def _call(typingctx, op, x, y, z, p, at, s1, s2, m, k, n, flag):
    """``_operate(op, ...)`` through the table, with the arrays' data pointers
    (``p``'s from its element ``at``)."""
    floats = (x, y, z)
    if not (all(isinstance(a, types.Array) and a.dtype == types.float32 for a in floats)
            and all(isinstance(a, types.Array) and a.dtype == p.dtype for a in (p, s1, s2))
            and p.dtype in PRECISIONS.values()):
        return None
    index = [per for per, dtype in PRECISIONS.items() if dtype == p.dtype][0] - 1
    i = types.intp
    sig = types.void(i, x, y, z, p, i, s1, s2, i, i, i, i)

    def codegen(context, builder, signature, args):
        tys, values = signature.args, args
        pointers = [context.make_array(tys[a])(context, builder, values[a]).data
                    for a in (1, 2, 3, 4, 6, 7)]
        pointers[3] = builder.gep(pointers[3], [args[5]])
        i64, i32 = ir.IntType(64), ir.IntType(32)
        address = ir.IntType(8).as_pointer()
        table = builder.module.globals.get(_TABLE_SYMBOL)
        if table is None:  # (an external declaration, resolved when the kernel is linked)
            table = ir.GlobalVariable(builder.module, ir.ArrayType(address, len(PRECISIONS)),
                                      _TABLE_SYMBOL)
        entry = builder.load(builder.gep(table, [ir.Constant(i32, 0), ir.Constant(i32, index)]))
        fnty = ir.FunctionType(ir.VoidType(), [i64] + [q.type for q in pointers] + [i64] * 4)
        builder.call(builder.bitcast(entry, fnty.as_pointer()),
                     [args[0], *pointers, *args[8:]])
        return context.get_dummy_value()

    return sig, codegen


# The kernels' calls (``load`` must have run for the precision, whose arrays'
# dtype chooses the table's entry).  A packed right operand is passed as the
# array holding it and the index of its first element there (``Bp``, ``at``).


@jit_inline
def call_product(A, Bp, at, C, scratch):
    """``product``, run by the loaded library."""
    _call(_FORWARD, A, A, C, Bp, at, scratch, scratch, A.shape[0], A.shape[1], C.shape[1], 0)


@jit_inline
def call_product_tn(A, D, G, scratch_a, scratch_b, accumulate):
    """``product_tn``, run by the loaded library."""
    _call(_WEIGHT_GRADIENT, A, D, G, scratch_a, 0, scratch_a, scratch_b, A.shape[0],
          A.shape[1], D.shape[1], 1 if accumulate else 0)


@jit_inline
def call_pack_b(B, out, at):
    """``pack_b``, run by the loaded library."""
    _call(_PACK_B, B, B, B, out, at, out, out, 0, B.shape[0], B.shape[1], 0)


@jit_inline
def call_pack_bt(W, out, at):
    """``pack_bt``, run by the loaded library."""
    _call(_PACK_BT, W, W, W, out, at, out, out, 0, W.shape[1], W.shape[0], 0)
