import os

import numpy as np
import pytest


def pytest_configure(config):
    """With FASTBP_REQUIRE_ORACLES=1 (set by CI) a missing PyTorch, onnx, onnxruntime or safetensors is an
    error, not skipped oracle and export tests."""
    if os.environ.get("FASTBP_REQUIRE_ORACLES") == "1":
        for module in ("torch", "onnx", "onnxruntime", "safetensors"):
            try:
                __import__(module)
            except ImportError as exc:
                raise pytest.UsageError(
                    f"FASTBP_REQUIRE_ORACLES=1 but {module} cannot be imported ({exc}); "
                    'install the dev extra: pip install -e ".[dev]"'
                ) from None


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def tolerance(dtype):
    """rtol/atol for comparing a kernel in ``dtype`` with the float64 reference."""
    return {"rtol": 2e-5, "atol": 2e-6} if np.dtype(dtype) == np.float32 else {"rtol": 1e-11, "atol": 1e-12}


class Interrupted(Exception):
    """Stands for the process being killed in the middle of a fit."""


def interrupt_after(epochs_done):
    """A fit callback that raises ``Interrupted`` once ``epochs_done`` epochs are done (checkpoint tests)."""

    def callback(info):
        if info["epoch"] + 1 == epochs_done:
            raise Interrupted

    return callback
