"""Scalar math that LLVM can vectorise, chosen by the argument's type at compile time.

``math.tanh`` and ``math.exp`` compile to a libm call per element, which no
loop vectorises.  For float32, ``exp`` is the Cephes ``expf`` polynomial
(within 2 ulp) with the power of two built from the exponent bits, and tanh
is a rational approximation (the one Eigen uses for float tanh,
within 2.6e-7 of the exact value everywhere and 2.6e-7 relative near 0) is
plain arithmetic and vectorises.  float64 keeps libm, so the float64 gradient
checks see exact functions.  The logistic function is not derived from it:
0.5 + 0.5 tanh(x/2) loses all relative accuracy in its lower tail (it never
falls below 1e-7), which silu and sigmoid outputs would show.
"""

import math

from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from .._jit import JIT_OPTIONS

# Eigen's generic_fast_tanh_float: tanh(x) ~ x * P(x^2) / Q(x^2) on |x| <= 7.9053
_CLAMP = 7.90531110763549805
_A1, _A3, _A5, _A7 = 4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08
_A9, _A11, _A13 = -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16
_B0, _B2, _B4, _B6 = 4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06


def tanh(x):
    """tanh: a vectorisable approximation for float32, libm's for float64."""
    return math.tanh(x)


@overload(tanh, jit_options=JIT_OPTIONS)
def _tanh_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:

        def tanh32(x):
            c = types.float32(_CLAMP)
            x = min(max(x, -c), c)
            x2 = x * x
            p = types.float32(_A13)
            p = p * x2 + types.float32(_A11)
            p = p * x2 + types.float32(_A9)
            p = p * x2 + types.float32(_A7)
            p = p * x2 + types.float32(_A5)
            p = p * x2 + types.float32(_A3)
            p = p * x2 + types.float32(_A1)
            q = types.float32(_B6)
            q = q * x2 + types.float32(_B4)
            q = q * x2 + types.float32(_B2)
            q = q * x2 + types.float32(_B0)
            return x * p / q

        return tanh32
    return lambda x: math.tanh(x)


# Cephes expf: exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 in
# two parts (_LN2_HI has few bits, so n * _LN2_HI is exact), exp(r) by a degree-7 polynomial.
_LOG2E = 1.44269504088896341
_LN2_HI, _LN2_LO = 0.693359375, -2.12194440e-4
_E2, _E3, _E4 = 5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2
_E5, _E6, _E7 = 8.3334519073e-3, 1.3981999507e-3, 1.9875691500e-4
# Outside [_EXP_LOW, _EXP_HIGH] 2^n leaves float32's normal range: below, the
# result is 0 (it would be subnormal; flushed to zero, as XLA does), above, inf.
_EXP_LOW, _EXP_HIGH = -87.33654475, 88.72283905


@intrinsic
def _float32_from_bits(typingctx, bits):
    """The float32 whose IEEE bits are the int32 ``bits`` (a bit cast, which vectorises)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


def exp(x):
    """exp: a vectorisable polynomial for float32, libm's for float64."""
    return math.exp(x)


@overload(exp, jit_options=JIT_OPTIONS)
def _exp_overload(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:

        def exp32(x):
            low = x < types.float32(_EXP_LOW)
            high = x > types.float32(_EXP_HIGH)
            x = min(max(x, types.float32(_EXP_LOW)), types.float32(_EXP_HIGH))
            n = math.floor(x * types.float32(_LOG2E) + types.float32(0.5))
            r = x - n * types.float32(_LN2_HI)
            r = r - n * types.float32(_LN2_LO)
            p = types.float32(_E7)
            p = p * r + types.float32(_E6)
            p = p * r + types.float32(_E5)
            p = p * r + types.float32(_E4)
            p = p * r + types.float32(_E3)
            p = p * r + types.float32(_E2)
            p = p * (r * r) + r + types.float32(1.0)
            # 2^n as 2^h * 2^(n-h): n reaches 128 near _EXP_HIGH, one past the largest exponent
            k = types.int32(n)
            h = k >> 1
            e = p * _float32_from_bits((h + 127) << 23) * _float32_from_bits((k - h + 127) << 23)
            if low:
                return types.float32(0.0)
            return types.float32(math.inf) if high else e

        return exp32
    return lambda x: math.exp(x)
