"""Train from data that does not fit in one piece: a memory-mapped .npy file and an iterator of batches.

``partial_fit`` runs one epoch over whatever rows it is given and keeps the
optimizer's state between calls, so a few passes over the chunks of a file
train a model as good as one ``fit`` over all of it.

    python examples/streaming_partial_fit.py
"""

import pathlib
import tempfile
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

import fastbp


def make_data(rows, rng):
    X = rng.normal(size=(rows, 8)).astype(np.float32)
    y = (np.sin(X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(np.int64)
    return X, y


def chunks_of(path_X, path_y, chunk_rows):
    """(X, y) chunks read lazily from two memory-mapped .npy files."""
    X = np.load(path_X, mmap_mode="r")
    y = np.load(path_y, mmap_mode="r")
    for start in range(0, X.shape[0], chunk_rows):
        yield X[start : start + chunk_rows], y[start : start + chunk_rows]


def main(rows=20_000, chunk_rows=2_000, passes=5):
    rng = np.random.default_rng(0)
    X, y = make_data(rows, rng)
    X_test, y_test = make_data(5_000, rng)
    with tempfile.TemporaryDirectory() as folder:
        path_X, path_y = pathlib.Path(folder, "X.npy"), pathlib.Path(folder, "y.npy")
        np.save(path_X, X)
        np.save(path_y, y)

        streamed = fastbp.MLPClassifier(hidden_layer_sizes=(64, 32), batch_size=64, random_state=0)
        for _ in range(passes):
            for X_chunk, y_chunk in chunks_of(path_X, path_y, chunk_rows):
                streamed.partial_fit(X_chunk, y_chunk, classes=[0, 1])

    # the same from any iterator of (X, y) batches, e.g. a generator of fresh data
    def batches(n_batches):
        for _ in range(n_batches):
            yield make_data(chunk_rows, rng)

    from_iterator = fastbp.MLPClassifier(hidden_layer_sizes=(64, 32), batch_size=64, random_state=0)
    for X_batch, y_batch in batches(passes * rows // chunk_rows):
        from_iterator.partial_fit(X_batch, y_batch, classes=[0, 1])

    whole = fastbp.MLPClassifier(hidden_layer_sizes=(64, 32), batch_size=64, random_state=0, max_iter=passes)
    with warnings.catch_warnings():  # the same number of passes on purpose, converged or not
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole.fit(X, y)
    scores = {
        "partial_fit over memory-mapped chunks": streamed.score(X_test, y_test),
        "partial_fit over an iterator": from_iterator.score(X_test, y_test),
        "one fit over all rows": whole.score(X_test, y_test),
    }
    print(f"{rows} rows in chunks of {chunk_rows}, {passes} passes; test accuracy:")
    for name, score in scores.items():
        print(f"  {name:40s} {score:.4f}")
    return scores


if __name__ == "__main__":
    main()
