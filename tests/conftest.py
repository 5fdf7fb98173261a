import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def tolerance(dtype):
    """rtol/atol for comparing a kernel in ``dtype`` with the float64 reference."""
    return {"rtol": 2e-5, "atol": 2e-6} if np.dtype(dtype) == np.float32 else {"rtol": 1e-11, "atol": 1e-12}
