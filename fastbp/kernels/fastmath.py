"""Scalar math that LLVM can vectorise, chosen by the argument's type at compile time.

``math.tanh`` compiles to a libm call per element, which no loop vectorises;
for float32 a rational approximation (the one Eigen uses for float tanh,
within 2.6e-7 of the exact value everywhere and 2.6e-7 relative near 0) is
plain arithmetic and vectorises.  float64 keeps libm, so the float64 gradient
checks see exact functions.  The logistic function is not derived from it:
0.5 + 0.5 tanh(x/2) loses all relative accuracy in its lower tail (it never
falls below 1e-7), which silu and sigmoid outputs would show.
"""

import math

from numba import types
from numba.extending import overload

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
