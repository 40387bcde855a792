"""bfloat16 products on Intel's AMX tiles (AMX-BF16), for ``_packed``.

On CPUs with AMX (Sapphire Rapids and later Xeons), eight tile registers of
16 rows by 64 bytes sit beside the vector registers, and ``tdpbf16ps`` adds
to a 16 x 16 float32 tile the product of a 16 x 32 bfloat16 tile and a
32 x 16 one, the latter stored as 16 rows of 16 pairs: 8192 multiply-adds
in one instruction, where ``vdpbf16ps`` does 32.  The layouts of
``_packed``'s bfloat16 operands are already the tiles' (``Ap``: rows of
pairs of ``k``; ``Bp``: panels of 32 columns, a row of 32 pairs per pair of
``k``), so that this module needs only its own padding:

* the left operand's rows in groups of 32 (two tiles), the rows past ``m``
  zeros;
* both operands' pairs of ``k`` in groups of 16 (a tile's 64 bytes), zeros
  past ``k``: ``kp = 16 ceil(k / 32)``.

A block of 32 x 32 results lives in four tiles (``tmm0``-``tmm3``) through
a pass over up to ``CHUNK`` pairs of ``k``; per 16 pairs it loads two
tiles of ``A`` (``tmm4``, ``tmm5``) and two of ``B`` (``tmm6``, ``tmm7``),
and runs four ``tdpbf16ps``.  Blocks that reach past ``C``'s edge are
stored in a scratch block on the stack, whose part inside ``C`` is then
copied.

Numba has no spelling for tile registers: the instructions are inline
assembly, in statements that name the tiles themselves (LLVM allocates
none of them here).  Linux lends the tiles to a process only on request
(``arch_prctl(ARCH_REQ_XCOMP_PERM)``), which ``has_amx`` makes; a product
loads the tiles' configuration first (``ldtilecfg``: every tile 16 rows of
64 bytes) and releases them at its end (``tilerelease``).
"""

import ctypes
import functools
import sys

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, register_jitable
from numba.np.arrayobj import populate_array

from ._config import BF16_PRODUCTS, jit, jit_inline
from ._intrinsics import borrowed, c_view

__all__ = ["ROWS", "PAIRS", "has_amx", "size_a", "size_b", "panels_a", "panels_b", "gemm"]

ROWS = 32   # rows of a block of results (two tiles)
COLUMNS = 32  # columns of a block of results (two tiles), ``_packed.NR``
PAIRS = 16  # pairs of ``k`` per tile row (64 bytes)
# Pairs of ``k`` per pass over ``C``: 32 rows of ``A``'s pairs, 32 KB, stay
# in the L1 cache while ``B``'s panels of as many pairs stream from L2.
CHUNK = 256

_I64 = ir.IntType(64)
_PTR = ir.IntType(8).as_pointer()

# arch_prctl(2): the syscall's number on x86-64, its requests, and the
# state component of the tiles' data
_SYS_ARCH_PRCTL = 158
_ARCH_GET_XCOMP_PERM = 0x1022
_ARCH_REQ_XCOMP_PERM = 0x1023
_XFEATURE_XTILEDATA = 18


def _tiles_permitted():
    """Ask Linux to lend this process the tiles; whether it does."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syscall(_SYS_ARCH_PRCTL, _ARCH_REQ_XCOMP_PERM, _XFEATURE_XTILEDATA) != 0:
            return False
        granted = ctypes.c_uint64(0)
        if libc.syscall(_SYS_ARCH_PRCTL, _ARCH_GET_XCOMP_PERM, ctypes.byref(granted)) != 0:
            return False
        return bool(granted.value >> _XFEATURE_XTILEDATA & 1)
    except (OSError, AttributeError):
        return False


@functools.cache
def has_amx():
    """Whether bfloat16 products run on AMX tiles here: the CPU has AMX-BF16,
    Linux lends the tiles to this process (asked on the first call), and
    ``FASTNN_BF16_PRODUCTS`` is not "avx512"."""
    features = llvm.get_host_cpu_features()
    return (BF16_PRODUCTS != "avx512" and sys.platform.startswith("linux")
            and bool(features.get("amx-tile", False)) and bool(features.get("amx-bf16", False))
            and _tiles_permitted())


# -- layout ----------------------------------------------------------------------------


@register_jitable
def _pairs(k):
    """Pairs of ``k`` per packed row: whole tile rows (callable from Python
    too, as the engine calls ``size_a`` and ``size_b``)."""
    return (k + 2 * PAIRS - 1) // (2 * PAIRS) * PAIRS


@jit_inline
def size_a(m, k):
    """Elements (uint32) of the packed form of an ``m x k`` left operand."""
    return (m + ROWS - 1) // ROWS * ROWS * _pairs(k)


@jit_inline
def size_b(k, n):
    """Elements (uint32) of the packed form of a ``k x n`` right operand."""
    return (n + COLUMNS - 1) // COLUMNS * COLUMNS * _pairs(k)


@jit_inline
def panels_a(buf, m, k, row_panel):
    """The first ``size_a(m, k)`` elements of ``buf`` as ``_packed``'s panels
    of ``row_panel`` rows (its packing functions' ``out``)."""
    return c_view(buf, 0, ((m + ROWS - 1) // ROWS * (ROWS // row_panel), row_panel, _pairs(k)))


@jit_inline
def panels_b(buf, k, n):
    """The first ``size_b(k, n)`` elements of ``buf`` as ``_packed``'s panels
    of 32 columns."""
    return c_view(buf, 0, ((n + COLUMNS - 1) // COLUMNS, _pairs(k), COLUMNS))


# -- the tiles -------------------------------------------------------------------------


def _asm(builder, text, *operands):
    """Emit ``text`` as an inline-assembly statement over 64-bit ``operands``
    ($0, $1, ...), which may read and write memory."""
    fnty = ir.FunctionType(ir.VoidType(), [_I64] * len(operands))
    constraints = ",".join(["r"] * len(operands) + ["~{memory}"])
    builder.call(ir.InlineAsm(fnty, text, constraints, side_effect=True), list(operands))


def _configuration():
    """``ldtilecfg``'s 64 bytes: palette 1, every tile 16 rows of 64 bytes."""
    config = np.zeros(64, dtype=np.uint8)
    config[0] = 1
    config[16:32].view(np.uint16)[:] = 64
    config[48:56] = 16
    return bytearray(config.tobytes())


@intrinsic
def _configure(typingctx):
    """Load the tiles' configuration (``_configuration``) on this thread."""
    def codegen(context, builder, signature, args):
        data = ir.Constant(ir.ArrayType(ir.IntType(8), 64), _configuration())
        slot = cgutils.alloca_once_value(builder, data)
        _asm(builder, "ldtilecfg ($0)", builder.ptrtoint(slot, _I64))
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def _stack_block(typingctx):
    """A 32 x 32 float32 array on the caller's stack (no memory record: its
    views count no references; valid until the caller returns)."""
    out_type = types.Array(types.float32, 2, "C")

    def codegen(context, builder, signature, args):
        data = cgutils.alloca_once(builder, ir.FloatType(), size=ROWS * COLUMNS)
        out = context.make_array(out_type)(context, builder)
        intp = context.get_value_type(types.intp)
        populate_array(out, data=data, shape=[ir.Constant(intp, ROWS), ir.Constant(intp, COLUMNS)],
                       strides=[ir.Constant(intp, 4 * COLUMNS), ir.Constant(intp, 4)],
                       itemsize=ir.Constant(intp, 4), meminfo=None)
        return out._getvalue()

    return out_type(), codegen


@intrinsic
def _release(typingctx):
    """Release the tiles of this thread (their state back to its initial one)."""
    def codegen(context, builder, signature, args):
        _asm(builder, "tilerelease")
        return context.get_dummy_value()

    return types.void(), codegen


def _address(context, builder, array_type, array, *index):
    """The address (an i64) of ``array[index]`` (indices as i64 values)."""
    a = context.make_array(array_type)(context, builder, array)
    ptr = cgutils.get_item_pointer(context, builder, array_type, a, list(index),
                                   wraparound=False)
    return builder.ptrtoint(ptr, _I64), a


@intrinsic
def _block(typingctx, Ap, i, Bp, j, p0, p1, C, ci, cj, accumulate):
    """``C[ci:ci+32, cj:cj+32] = Ap[i:i+32, p0:p1] . Bp[j, p0:p1]`` (``+=``
    with ``accumulate``), over pairs ``p0`` to ``p1`` of ``k`` (multiples of
    16): ``Ap`` a 2-D uint32 array of rows of pairs (contiguous), ``Bp``
    ``_packed``'s 3-D panels of 32 columns, ``C`` float32 with contiguous
    rows, the block inside it."""
    if not (isinstance(Ap, types.Array) and Ap.ndim == 2 and Ap.dtype == types.uint32
            and isinstance(Bp, types.Array) and Bp.ndim == 3 and Bp.dtype == types.uint32
            and isinstance(C, types.Array) and C.ndim == 2 and C.dtype == types.float32):
        return None
    sig = types.void(Ap, i, Bp, j, p0, p1, C, ci, cj, types.boolean)

    def codegen(context, builder, signature, args):
        ap_ty, _, bp_ty, _, _, _, c_ty, _, _, _ = signature.args
        i_, j_, p0_, p1_, ci_, cj_ = (context.cast(builder, args[a], signature.args[a],
                                                   types.int64) for a in (1, 3, 4, 5, 7, 8))
        zero = ir.Constant(_I64, 0)
        a0, a = _address(context, builder, ap_ty, args[0], i_, p0_)
        b, _ = _address(context, builder, bp_ty, args[2], j_, p0_, zero)
        c, c_arr = _address(context, builder, c_ty, args[6], ci_, cj_)
        lda = builder.extract_value(a.strides, 0)
        ldc = builder.extract_value(c_arr.strides, 0)
        sixteen = ir.Constant(_I64, 16)
        a1 = builder.add(a0, builder.mul(lda, sixteen))
        c16 = builder.add(c, builder.mul(ldc, sixteen))
        ldb = ir.Constant(_I64, 4 * COLUMNS)
        with builder.if_else(args[9]) as (then, otherwise):
            with then:
                _asm(builder, "tileloadd ($0,$2,1), %tmm0\n\ttileloadd 64($0,$2,1), %tmm1\n\t"
                     "tileloadd ($1,$2,1), %tmm2\n\ttileloadd 64($1,$2,1), %tmm3", c, c16, ldc)
            with otherwise:
                _asm(builder, "tilezero %tmm0\n\ttilezero %tmm1\n\ttilezero %tmm2\n\t"
                     "tilezero %tmm3")
        steps = builder.udiv(builder.sub(p1_, p0_), sixteen)
        with cgutils.for_range(builder, steps) as loop:
            q = loop.index
            along = builder.mul(q, ir.Constant(_I64, 4 * PAIRS))  # 16 pairs of A's rows
            down = builder.mul(q, ir.Constant(_I64, 4 * PAIRS * COLUMNS))  # 16 rows of B
            _asm(builder,
                 "tileloadd ($0,$3,1), %tmm4\n\ttileloadd ($1,$3,1), %tmm5\n\t"
                 "tileloadd ($2,$4,1), %tmm6\n\ttileloadd 64($2,$4,1), %tmm7\n\t"
                 "tdpbf16ps %tmm6, %tmm4, %tmm0\n\ttdpbf16ps %tmm7, %tmm4, %tmm1\n\t"
                 "tdpbf16ps %tmm6, %tmm5, %tmm2\n\ttdpbf16ps %tmm7, %tmm5, %tmm3",
                 builder.add(a0, along), builder.add(a1, along), builder.add(b, down), lda, ldb)
        _asm(builder, "tilestored %tmm0, ($0,$2,1)\n\ttilestored %tmm1, 64($0,$2,1)\n\t"
             "tilestored %tmm2, ($1,$2,1)\n\ttilestored %tmm3, 64($1,$2,1)", c, c16, ldc)
        return context.get_dummy_value()

    return sig, codegen


@jit_inline
def _result_block(A, Bp, C, i, j, p0, p1, accumulate, edge):
    """Block ``(i, j)`` of ``C`` (rows ``i`` to ``i + 32``, panel ``j``) over
    pairs ``p0`` to ``p1``, through the scratch block ``edge`` where it
    reaches past ``C``'s edge."""
    m, n = C.shape
    c0 = j * COLUMNS
    rows, cols = min(ROWS, m - i), min(COLUMNS, n - c0)
    if rows == ROWS and cols == COLUMNS:
        _block(A, i, Bp, j, p0, p1, C, i, c0, accumulate)
        return
    _block(A, i, Bp, j, p0, p1, edge, 0, 0, False)
    for r in range(rows):
        c = C[i + r, c0:c0 + cols]
        e = edge[r]
        if accumulate:
            for q in range(cols):
                c[q] += e[q]
        else:
            for q in range(cols):
                c[q] = e[q]


@jit
def gemm(Ap, Bp, C, accumulate):
    """``C = A B`` (``C += A B`` with ``accumulate``) on the tiles: ``Ap`` and
    ``Bp`` packed as ``panels_a`` (any panel height) and ``panels_b``, ``C``
    ``m x n`` float32 with contiguous rows.

    In passes over ``CHUNK`` pairs of ``k`` (the later ones adding to ``C``):
    per block of 32 rows of ``A``, held in the L1 cache, every panel of
    ``B`` streams past from L2, and the block's row of results is stored
    along ``C``'s rows."""
    m, n = C.shape
    # (the arrays borrowed: each block's views of them then count no references)
    A = borrowed(c_view(Ap, 0, (Ap.shape[0] * Ap.shape[1], Ap.shape[2])))
    Bp, C = borrowed(Bp), borrowed(C)
    pairs = A.shape[1]
    edge = _stack_block()
    _configure()
    for p0 in range(0, pairs, CHUNK):
        p1 = min(pairs, p0 + CHUNK)
        adding = accumulate or p0 > 0
        for i in range(0, m, ROWS):
            for j in range(Bp.shape[0]):
                _result_block(A, Bp, C, i, j, p0, p1, adding, edge)
    _release()
