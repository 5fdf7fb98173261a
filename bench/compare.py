"""The throughput comparison of fastbp with PyTorch, JAX and scikit-learn; same as ``fastbp bench``.

The code lives in ``fastbp/benchmark.py`` so that the installed command can run it.

    python bench/compare.py [--repeats 5] [--threads N] [--only tiny,small] [--json out.json] [--plot out.png]
"""

from fastbp.benchmark import GRID, main, make_data, n_params

__all__ = ["GRID", "main", "make_data", "n_params"]

if __name__ == "__main__":
    main()
