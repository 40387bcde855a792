"""LLVM operations Numba has no spelling for, as intrinsics usable in kernels.

* ``float32_from_bits`` / ``bits_of_float32``: reinterpret between float32
  and its IEEE-754 bit pattern (used to build ``2**k`` in ``exp``).
* ``prefetch(a, i, j)``: hint the CPU to fetch the cache line of ``a[i, j]``
  (used to fetch the rows of the next mini-batch while this one computes).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

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
