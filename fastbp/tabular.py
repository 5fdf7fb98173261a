"""Reading a user's table for the command line: CSV (standard library), Parquet (pandas), .npz.

A table becomes named columns of strings or numbers; ``split_features``
turns them into a float feature matrix and a target column, with an error
that names the column (and row) when something is not usable.
"""

import csv
import pathlib

import numpy as np


class DataError(ValueError):
    """A data file that cannot be used, with a message meant for the user."""


def read_table(path):
    """``(column names, list of columns)`` from a .csv, .parquet or .npz file.

    CSV columns are lists of strings; Parquet and .npz columns are arrays.
    An .npz holds a 2-D ``X`` (columns ``x0, x1, ...``) and optionally a 1-D
    ``y`` (column ``y``), or one 1-D array per column.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _read_npz(path)
    if suffix in (".parquet", ".pq"):
        return _read_parquet(path)
    return _read_csv(path)


def _read_csv(path):
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    if not rows:
        raise DataError(f"{path}: the file is empty")
    names = [name.strip() for name in rows[0]]
    if len(set(names)) != len(names):
        raise DataError(f"{path}: the header repeats a column name")
    body = rows[1:]
    if not body:
        raise DataError(f"{path}: the file has a header but no rows")
    for line, row in enumerate(body, start=2):
        if len(row) != len(names):
            raise DataError(f"{path}, line {line}: {len(row)} fields, the header has {len(names)}")
    return names, [[row[j].strip() for row in body] for j in range(len(names))]


def _read_parquet(path):
    try:
        import pandas as pd

        frame = pd.read_parquet(path)
    except ImportError as exc:
        raise DataError(f"{path}: reading Parquet needs pandas and pyarrow ({exc})") from None
    if frame.empty:
        raise DataError(f"{path}: the file has no rows")
    return [str(c) for c in frame.columns], [frame[c].to_numpy() for c in frame.columns]


def _read_npz(path):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    if "X" in arrays:
        X = arrays.pop("X")
        if X.ndim != 2:
            raise DataError(f"{path}: X must be 2-D, got shape {X.shape}")
        names = [f"x{j}" for j in range(X.shape[1])]
        columns = [X[:, j] for j in range(X.shape[1])]
        for key, value in arrays.items():
            names.append(key)
            columns.append(value)
    else:
        names, columns = list(arrays), list(arrays.values())
    lengths = {len(c) for c in columns}
    if not columns or lengths == {0}:
        raise DataError(f"{path}: the file has no rows")
    if len(lengths) != 1:
        raise DataError(f"{path}: the arrays have different lengths {sorted(lengths)}")
    return names, columns


def numeric_column(name, values):
    """A float64 array from one column, or a DataError naming the first bad value."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        out = values.astype(np.float64)
    else:
        out = np.empty(len(values))
        for i, value in enumerate(values):
            try:
                out[i] = float(value)
            except (TypeError, ValueError):
                raise DataError(f"column {name!r}, row {i + 1}: {str(value)!r} is not a number") from None
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise DataError(f"column {name!r}, row {bad[0] + 1}: missing or not finite ({str(values[bad[0]])!r})")
    return out


def split_features(names, columns, target=None, feature_names=None):
    """``(X float64 (n, k), feature names, target column or None)``.

    ``feature_names`` (from a trained model) picks and orders the features;
    by default every column but ``target`` is a feature.
    """
    index = {name: j for j, name in enumerate(names)}
    if target is not None and target not in index:
        raise DataError(f"no column named {target!r}; the columns are {', '.join(names)}")
    if feature_names is None:
        feature_names = [n for n in names if n != target]
    missing = [n for n in feature_names if n not in index]
    if missing:
        raise DataError(f"the data has no column {missing[0]!r}, which the model needs")
    if not feature_names:
        raise DataError("there are no feature columns besides the target")
    X = np.column_stack([numeric_column(n, columns[index[n]]) for n in feature_names])
    y = None if target is None else np.asarray(columns[index[target]])
    return X, list(feature_names), y
