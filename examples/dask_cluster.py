"""Train a fastbp classifier chunk by chunk over a Dask array, then predict on a local cluster.

Starts a ``dask.distributed`` LocalCluster of worker processes (one thread
each, and one fastbp thread each, so 2 workers use the machine's 2 cores
without oversubscribing it), trains with ``dask_ml.wrappers.Incremental``
(``partial_fit`` on each chunk in turn), predicts in parallel with
``ParallelPostFit`` and checks the predictions against a local ``predict``.

    pip install "fastbp[dask]"
    python examples/dask_cluster.py
"""

import numpy as np


def main(n_workers=2, rows=8000, chunk_rows=1000, epochs=3):
    import dask.array as da
    from dask.distributed import Client, LocalCluster
    from dask_ml.wrappers import Incremental, ParallelPostFit

    import fastbp

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 6)).astype(np.float32)
    y = np.where(X[:, 0] * X[:, 1] + X[:, 2] > 0, "yes", "no")
    dX = da.from_array(X, chunks=(chunk_rows, 6))
    dy = da.from_array(y, chunks=chunk_rows)

    # workers get OMP/NUMBA thread limits in their environment before they import anything
    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    with LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None,
        env=env,
    ) as cluster, Client(cluster) as client:  # fmt: skip
        model = fastbp.MLPClassifier(hidden_layer_sizes=(32, 16), random_state=0, n_threads=1)
        incremental = Incremental(model, scoring="accuracy", shuffle_blocks=True, random_state=0)
        for _ in range(epochs):
            incremental.partial_fit(dX, dy, classes=["no", "yes"])
        trained = incremental.estimator_
        distributed = ParallelPostFit(trained).predict(dX).compute()
        local = trained.predict(X)
        accuracy = float(np.mean(distributed == y))
        worker_threads = sorted(client.run(fastbp.get_num_threads).values())
    agree = bool(np.array_equal(distributed, local))
    print(f"{n_workers} workers ({worker_threads} fastbp threads), {rows} rows in chunks of {chunk_rows}, "
          f"{epochs} passes")  # fmt: skip
    print(f"accuracy {accuracy:.3f}; cluster predictions equal local ones: {agree}")
    return accuracy, agree, worker_threads


if __name__ == "__main__":
    main()
