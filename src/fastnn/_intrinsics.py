"""LLVM operations Numba has no spelling for, as intrinsics usable in kernels.

* ``float32_from_bits`` / ``bits_of_float32``: reinterpret between float32
  and its IEEE-754 bit pattern (used to build ``2**k`` in ``exp``).
* ``prefetch(a, i, j)``: hint the CPU to fetch the cache line of ``a[i, j]``
  (used to fetch the rows of the next mini-batch while this one computes).
* ``atomic_load(a, i)``, ``atomic_cas(a, i, expected, new)``,
  ``atomic_add(a, i, v)`` on an int64 array, sequentially consistent, and
  ``yield_cpu()``: what the threads of a team use to share out
  the lanes of every mini-batch and wait for its update (``_kernels``).
* ``borrowed(a)``: ``a`` without its reference count, so that views of it
  cost no atomic operations (``_kernels``' entry points).
* ``c_view(a, offset, shape)``: a C-contiguous view of part of a
  C-contiguous array, without the calls of a slice and a reshape.
* ``flush_denormals()`` / ``restore_denormals(saved)``: the calling
  thread's floating-point control flags for denormal numbers, set to flush
  them to zero (``train_member``, for its whole call) and put back.
* ``squares_by_lane(w)``: the sums of squares of a float32 or float64 vector
  in float64, in sixteen partial sums by index modulo 16, as vector
  instructions in an order fixed by the code (a loop LLVM may not reorder
  without fast-math would stay scalar).
* ``wide_vectors()``: let LLVM vectorise the calling kernel's loops in
  512-bit registers on CPUs that have them.
* ``fma(x, y, z)``: ``x * y + z`` rounded once, in every kernel alike
  (fast-math's contraction fuses a product and a sum or not depending on
  the code around them).
"""

import platform
import sys

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import populate_array

# MXCSR, the SSE control and status register of x86-64: flush denormal
# results to zero (FTZ, bit 15) and read denormal operands as zero (DAZ, bit 6)
_MXCSR_FLUSH = 0x8040
_X86_64 = platform.machine().lower() in ("x86_64", "amd64")


def _mxcsr(builder, name, slot):
    """Call LLVM's ``llvm.x86.sse.<name>`` (stmxcsr / ldmxcsr) on the i32 at ``slot``."""
    fn = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(ir.VoidType(), [_I8_PTR]), f"llvm.x86.sse.{name}")
    builder.call(fn, [builder.bitcast(slot, _I8_PTR)])


@intrinsic
def flush_denormals(typingctx):
    """Make this thread's float arithmetic flush denormal numbers to zero
    (results and operands; x86-64's FTZ and DAZ flags, as PyTorch's
    ``set_flush_denormal``), and return the flags it had, for
    ``restore_denormals``.  Values below float32's smallest normal number
    (1.2e-38) carry nothing a network needs, but on many CPUs every
    operation on one takes a hundred cycles or more: the deltas of a GELU
    network, small derivatives times small deltas, made a BLAS product 2.5
    times slower.  Does nothing (returns 0) on other architectures."""
    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        if not _X86_64:
            return ir.Constant(i32, 0)
        slot = cgutils.alloca_once(builder, i32)
        _mxcsr(builder, "stmxcsr", slot)
        saved = builder.load(slot)
        builder.store(builder.or_(saved, ir.Constant(i32, _MXCSR_FLUSH)), slot)
        _mxcsr(builder, "ldmxcsr", slot)
        return saved

    return types.uint32(), codegen


@intrinsic
def restore_denormals(typingctx, saved):
    """Put back the flags ``flush_denormals`` returned."""
    if saved != types.uint32:
        return None

    def codegen(context, builder, signature, args):
        if _X86_64:
            _mxcsr(builder, "ldmxcsr", cgutils.alloca_once_value(builder, args[0]))
        return context.get_dummy_value()

    return types.void(saved), codegen


@intrinsic
def float32_from_bits(typingctx, bits):
    """The float32 whose IEEE-754 bit pattern is the low 32 bits of ``bits``."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        low = builder.trunc(args[0], ir.IntType(32)) if bits.bitwidth > 32 else args[0]
        return builder.bitcast(low, ir.FloatType())

    return types.float32(bits), codegen


@intrinsic
def bits_of_float32(typingctx, x):
    """The IEEE-754 bit pattern of the float32 ``x``, as an int32."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(32))

    return types.int32(types.float32), codegen


# The intrinsic's name carries its pointer type: "p0" for LLVM's opaque
# pointers, "p0i8" where llvmlite still writes typed pointers.
_I8_PTR = ir.IntType(8).as_pointer()
_PREFETCH = "llvm.prefetch.p0" if str(_I8_PTR) == "ptr" else "llvm.prefetch.p0i8"


@intrinsic
def prefetch(typingctx, a, i, j):
    """Prefetch ``a[i, j]`` for reading into all cache levels (no effect on results)."""
    if not (isinstance(a, types.Array) and a.ndim == 2 and isinstance(i, types.Integer)
            and isinstance(j, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        index = [context.cast(builder, v, t, types.intp)
                 for v, t in zip(args[1:], signature.args[1:])]
        ptr = cgutils.get_item_pointer(context, builder, array_type, array, index,
                                       wraparound=False)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [_I8_PTR, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH)
        # read, highest locality, data cache
        builder.call(fn, [builder.bitcast(ptr, _I8_PTR), ir.Constant(i32, 0),
                          ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(a, i, j), codegen


def _borrowed_view(context, builder, src_type, out_type, value):
    """A view of the array ``value`` without a memory record (``borrowed``)."""
    src = context.make_array(src_type)(context, builder, value)
    out = context.make_array(out_type)(context, builder)
    for field in ("nitems", "itemsize", "data", "shape", "strides"):
        setattr(out, field, getattr(src, field))
    out.meminfo = cgutils.get_null_value(out.meminfo.type)
    out.parent = cgutils.get_null_value(out.parent.type)
    return out._getvalue()


@intrinsic
def borrowed(typingctx, a):
    """``a`` as an array that does not own a reference to its memory.

    Every view Numba makes of an array (a slice, a row, a reshape) increments
    and later decrements the reference count of the array's memory, with
    atomic instructions; a mini-batch kernel makes hundreds of views, and on
    tiny batches those counts took ~11% of the time.  Views of a borrowed
    array carry no memory record, so Numba skips the counts.  Only for arrays the
    caller keeps alive for as long as the borrowed one and its views exist:
    never return one, or store one where it outlives the call.
    """
    if not isinstance(a, types.Array):
        return None

    def codegen(context, builder, signature, args):
        return _borrowed_view(context, builder, signature.args[0], signature.return_type,
                              args[0])

    return a(a), codegen


@intrinsic
def read_only(typingctx, a):
    """``a`` borrowed (as ``borrowed``) and typed read-only: a helper that
    only reads an array which is writable in one caller and read-only in
    another then compiles once."""
    if not isinstance(a, types.Array):
        return None
    out_type = a.copy(readonly=True)

    def codegen(context, builder, signature, args):
        return _borrowed_view(context, builder, signature.args[0], signature.return_type,
                              args[0])

    return out_type(a), codegen


@intrinsic
def c_view(typingctx, a, offset, shape):
    """The elements ``offset`` to ``offset + prod(shape)`` of the C-contiguous
    array ``a`` (in its flat order) as a C-contiguous array of ``shape``:
    ``a.reshape(-1)[offset:offset + prod(shape)].reshape(shape)`` without the
    slice and reshape's checks and calls (a reshape calls a C helper, a few
    of which every block and layer of a mini-batch would pay).  The caller
    keeps the elements within ``a``."""
    if not (isinstance(a, types.Array) and a.layout == "C" and isinstance(offset, types.Integer)
            and isinstance(shape, types.UniTuple) and isinstance(shape.dtype, types.Integer)):
        return None
    out_type = a.copy(ndim=shape.count, layout="C")

    def codegen(context, builder, signature, args):
        src = context.make_array(signature.args[0])(context, builder, args[0])
        out = context.make_array(out_type)(context, builder)
        dims = [context.cast(builder, d, shape.dtype, types.intp)
                for d in cgutils.unpack_tuple(builder, args[2], shape.count)]
        itemsize = src.itemsize
        strides = [itemsize]
        for d in reversed(dims[1:]):
            strides.insert(0, builder.mul(strides[0], d))
        start = context.cast(builder, args[1], signature.args[1], types.intp)
        populate_array(out, data=builder.gep(src.data, [start]), shape=dims, strides=strides,
                       itemsize=itemsize, meminfo=src.meminfo)
        context.nrt.incref(builder, signature.args[0], args[0])  # (the view's reference)
        return out._getvalue()

    return out_type(a, offset, shape), codegen


def _element_pointer(context, builder, array_type, array_value, index_value, index_type):
    array = context.make_array(array_type)(context, builder, array_value)
    index = context.cast(builder, index_value, index_type, types.intp)
    return cgutils.get_item_pointer(context, builder, array_type, array, [index],
                                    wraparound=False)


def _int64_vector(a):
    return isinstance(a, types.Array) and a.ndim == 1 and a.dtype == types.int64 and a.mutable


@intrinsic
def atomic_load(typingctx, a, i):
    """``a[i]``, read atomically."""
    if not (_int64_vector(a) and isinstance(i, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1],
                               signature.args[1])
        return builder.load_atomic(ptr, "seq_cst", 8)

    return types.int64(a, i), codegen


@intrinsic
def atomic_cas(typingctx, a, i, expected, new):
    """If ``a[i] == expected`` set it to ``new``; returns the value found."""
    if not (_int64_vector(a) and isinstance(i, types.Integer)
            and isinstance(expected, types.Integer) and isinstance(new, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1],
                               signature.args[1])
        old = context.cast(builder, args[2], signature.args[2], types.int64)
        val = context.cast(builder, args[3], signature.args[3], types.int64)
        pair = builder.cmpxchg(ptr, old, val, "seq_cst", "seq_cst")
        return builder.extract_value(pair, 0)

    return types.int64(a, i, expected, new), codegen


@intrinsic
def atomic_add(typingctx, a, i, v):
    """``a[i] += v`` atomically; returns the value before the addition."""
    if not (_int64_vector(a) and isinstance(i, types.Integer) and isinstance(v, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0], args[1],
                               signature.args[1])
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return types.int64(a, i, v), codegen


# Let another thread run while waiting: POSIX sched_yield (a waiting thread
# must not keep a core from the thread it waits for when cores are shared).
_YIELD = None if sys.platform == "win32" else "sched_yield"


@intrinsic
def yield_cpu(typingctx):
    """Give up the rest of this thread's time slice (no-op on Windows)."""

    def codegen(context, builder, signature, args):
        if _YIELD is not None:
            fnty = ir.FunctionType(ir.IntType(32), [])
            builder.call(cgutils.get_or_insert_function(builder.module, fnty, _YIELD), [])
        return context.get_dummy_value()

    return types.void(), codegen


# LLVM's tuning for Intel cores with AVX-512 vectorises loops in 256-bit
# registers (the "prefer-256-bit" tuning of Skylake-X and its successors);
# a function's "prefer-vector-width" attribute overrides it.  On CPUs
# without 512-bit vectors it changes nothing: the width is capped by the
# registers there.
_PREFER_512 = '"prefer-vector-width"="512"'


@intrinsic
def wide_vectors(typingctx):
    """Vectorise the loops of the calling kernel in 512-bit registers where
    the CPU has them.

    For element-wise loops whose work is arithmetic (the activations and
    their derivatives), twice the values per instruction.  The attribute is
    set on the LLVM function being compiled, so this is called in the
    kernel whose loops it concerns (a ``jit_inline`` function passes it to
    each caller).
    """

    def codegen(context, builder, signature, args):
        # (llvmlite's FunctionAttributes accepts only its known keywords;
        # a string attribute is written into the IR as given)
        set.add(builder.function.attributes, _PREFER_512)
        return context.get_dummy_value()

    return types.void(), codegen


@intrinsic
def fma(typingctx, x, y, z):
    """``x * y + z`` with one rounding (LLVM's ``llvm.fma``), for float32 or
    float64 arguments of one type."""
    if not (isinstance(x, types.Float) and x == y == z):
        return None

    def codegen(context, builder, signature, args):
        ty = context.get_value_type(signature.return_type)
        fn = builder.module.declare_intrinsic("llvm.fma", [ty], ir.FunctionType(ty, [ty] * 3))
        return builder.call(fn, args)

    return x(x, y, z), codegen


_V8D = ir.VectorType(ir.DoubleType(), 8)


@intrinsic
def squares_by_lane(typingctx, w):
    """``(s, n)``: ``s`` the float64 sum of ``w[j] ** 2`` over ``j < n``, ``n`` the
    largest multiple of 16 up to ``len(w)`` (the caller adds the rest), for a
    contiguous float32 or float64 ``w``.

    Lane ``q`` of two 8-wide float64 accumulators sums the squares of the
    elements ``j = 16 i + q``; the sixteen are then added in a fixed tree.
    Every operation is IEEE (no fast-math flag), so the result does not
    depend on the kernel it is inlined into.
    """
    if not (isinstance(w, types.Array) and w.ndim == 1 and w.layout == "C"
            and w.dtype in (types.float32, types.float64)):
        return None

    def codegen(context, builder, signature, args):
        array = context.make_array(signature.args[0])(context, builder, args[0])
        i64 = ir.IntType(64)
        n = builder.extract_value(array.shape, 0)
        blocks = builder.udiv(n, ir.Constant(i64, 16))
        element = context.get_value_type(signature.args[0].dtype)
        vector_ptr = ir.VectorType(element, 8).as_pointer()
        zero = ir.Constant(_V8D, [0.0] * 8)
        accs = [cgutils.alloca_once_value(builder, zero) for _ in range(2)]
        with cgutils.for_range(builder, blocks) as loop:
            base = builder.mul(loop.index, ir.Constant(i64, 16))
            for h, acc in enumerate(accs):
                ptr = builder.gep(array.data, [builder.add(base, ir.Constant(i64, 8 * h))])
                v = builder.load(builder.bitcast(ptr, vector_ptr), align=4)
                if element != ir.DoubleType():
                    v = builder.fpext(v, _V8D)
                builder.store(builder.fadd(builder.load(acc), builder.fmul(v, v)), acc)
        lanes = [builder.extract_element(builder.load(acc), ir.Constant(ir.IntType(32), q))
                 for acc in accs for q in range(8)]
        while len(lanes) > 1:  # pairwise: ((l0 + l1) + (l2 + l3)) + ...
            lanes = [builder.fadd(lanes[q], lanes[q + 1]) for q in range(0, len(lanes), 2)]
        total = builder.mul(blocks, ir.Constant(i64, 16))
        return context.make_tuple(builder, signature.return_type, [lanes[0], total])

    return types.Tuple((types.float64, types.intp))(w), codegen
