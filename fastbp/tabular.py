"""Reading a user's table for the command line: CSV and Parquet through pyarrow, .npz through numpy.

pyarrow (the ``cli`` extra) parses CSV in C++ into typed columns: a
200,000 x 30 file reads in a fraction of a second and a number column never
exists as Python strings.  The delimiter (comma, semicolon, tab or pipe) is
detected from the first lines unless given; an unnamed leading column of row
numbers (what ``DataFrame.to_csv`` writes by default) is dropped, with a
note.  Empty, ``NA``, ``NaN`` and ``null`` cells read as missing.

A table becomes named columns (numpy arrays: numbers, or objects for text);
``split_features`` turns them into a float32 feature matrix, one column at a
time, and a target column, with an error that names the column (and row)
when something is not usable.
"""

import csv
import pathlib
import re

import numpy as np

DELIMITERS = (";", "\t", "|", ",")  # on a tie the comma loses: it also sits inside numbers and text
MISSING = ["", "NA", "NaN", "nan", "null", "NULL", "N/A", "n/a"]
INDEX_NAMES = ("", "Unnamed: 0")  # what pandas' to_csv and read_csv call an unnamed index
# pyarrow parses this much at a time: reading a 73 MB CSV whole peaked at 313 MB, in 1 MB blocks at 185 MB
CSV_BLOCK_BYTES = 1 << 20


class DataError(ValueError):
    """A data file that cannot be used, with a message meant for the user."""


def read_table(path, delimiter=None, notes=None, target=None, text=(), index_column=True):
    """``(column names, list of columns)`` from a .csv, .parquet or .npz file.

    Columns are numpy arrays: numbers (float with NaN where a cell is
    missing), or objects (str, None where missing) for text.  An .npz holds
    a 2-D ``X`` (columns ``x0, x1, ...``) and optionally a 1-D ``y`` (column
    ``y``), or one 1-D array per column.  ``notes``, a list, collects what
    was done to the table (a dropped index column).  A CSV's number columns
    are float32, what the features train in, except ``target``'s (float64);
    the columns named in ``text`` are read as text, verbatim (a model's text
    columns at predict time: "007" stays "007").  ``index_column=False``
    keeps a leading unnamed column (a model trained on one).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _read_npz(path)
    if suffix in (".parquet", ".pq"):
        table = _read_parquet(path)
        names = table.column_names
        columns = [_to_numpy(table.column(j)) for j in range(table.num_columns)]
    else:
        names, columns = _read_csv(path, delimiter, target, text)
    names = [name.strip() for name in names]
    if len(set(names)) != len(names):
        raise DataError(f"{path}: the header repeats a column name")
    if not columns or len(columns[0]) == 0:
        raise DataError(f"{path}: the file has a header but no rows")
    if index_column and len(names) > 1 and names[0] in INDEX_NAMES and _is_row_numbers(columns[0]):
        names, columns = names[1:], columns[1:]
        if notes is not None:
            notes.append(
                f"dropped the unnamed first column of {path.name}: it holds the row numbers 0, 1, 2..."
            )
    return names, columns


def _pyarrow(what):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise DataError(f'reading {what} needs pyarrow: pip install "fastbp[cli]"') from None


def _read_csv(path, delimiter, target=None, text=()):
    """Names and numpy columns of a CSV file, read by pyarrow in blocks of ``CSV_BLOCK_BYTES``: each
    block's columns become numpy at once, so the whole file never sits in memory as parsed text."""
    _pyarrow("CSV")
    import pyarrow as pa
    from pyarrow import csv as pacsv

    if path.stat().st_size == 0 or not path.read_bytes()[:4096].strip(b"\xef\xbb\xbf \t\r\n"):
        raise DataError(f"{path}: the file is empty")
    delimiter = delimiter or sniff_delimiter(path)
    options = {
        "read_options": pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
        "parse_options": pacsv.ParseOptions(delimiter=delimiter),
        "convert_options": pacsv.ConvertOptions(
            null_values=MISSING, strings_can_be_null=True, column_types={name: pa.string() for name in text}
        ),
    }
    try:
        try:
            reader = pacsv.open_csv(path, **options)
            names = reader.schema.names
            floats = [
                "float64" if name.strip() == target else "float32" for name in names
            ]  # features: float32
            parts = [[] for _ in names]
            for batch in reader:
                for j, column in enumerate(batch.columns):
                    parts[j].append(_to_numpy(column, floats[j]))
        except pa.ArrowInvalid as exc:
            if "conversion error" not in str(exc):
                raise
            # a later block holds text where the first held numbers: read it whole, typed from every row
            table = pacsv.read_csv(path, **options)
            names = table.column_names
            parts = [
                [_to_numpy(c, "float64" if n.strip() == target else "float32")]
                for n, c in zip(names, table.columns)
            ]
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as exc:
        message = str(exc).splitlines()[0]
        raise DataError(f"{path}: not a CSV table with delimiter {delimiter!r} ({message})"[:400]) from None
    columns = [_joined(p) for p in parts]
    del parts
    if delimiter != ",":  # "1,5" in a semicolon file is a number with a decimal comma
        columns = [c if n.strip() in text else _decimal_commas(c) for n, c in zip(names, columns)]
    pa.default_memory_pool().release_unused()  # the parser's buffers go back to the system before training
    return names, columns


def _joined(parts):
    if not parts:
        return np.empty(0)
    if len({p.dtype for p in parts}) > 1:  # whole numbers in one block, missing cells in another
        wider = np.result_type(*[q.dtype for q in parts if q.dtype.kind == "f"] or [np.float32])
        parts = [p.astype(object if any(q.dtype == object for q in parts) else wider) for p in parts]
    return np.concatenate(parts)


def sniff_delimiter(path):
    """The delimiter of a CSV file: of comma, semicolon, tab and pipe, the one found the same number of
    times (at least once) on each of the first lines; comma when none is."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        lines = [line for line in (f.readline() for _ in range(20)) if line.strip()]
    if not lines:
        return ","
    try:
        counts = {d: [len(next(csv.reader([line], delimiter=d))) - 1 for line in lines] for d in DELIMITERS}
    except csv.Error:
        return ","
    steady = {d: c[0] for d, c in counts.items() if c[0] > 0 and len(set(c)) == 1}
    if steady:
        return max(steady, key=steady.get)
    return max(DELIMITERS, key=lambda d: counts[d][0]) if any(counts[d][0] for d in DELIMITERS) else ","


def _read_parquet(path):
    _pyarrow("Parquet")
    import pyarrow as pa
    from pyarrow import parquet

    try:
        return parquet.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})"[:400]) from None


def _to_numpy(column, floats="float64"):
    """A pyarrow column as numpy: whole numbers as int64, other numbers as ``floats`` (NaN where
    missing), anything else as objects (str; None where missing)."""
    import pyarrow as pa

    kind = column.type
    if pa.types.is_integer(kind) and column.null_count == 0:
        return column.to_numpy()
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        return column.cast(getattr(pa, floats)()).to_numpy(zero_copy_only=False)
    if pa.types.is_null(kind):  # every cell missing
        return np.full(len(column), np.nan)
    return np.array([None if v is None else str(v).strip() for v in column.to_pylist()], dtype=object)


DECIMAL_COMMA = re.compile(r"^[+-]?(\d+,\d*|,\d+)([eE][+-]?\d+)?$|^[+-]?\d+$")


def _decimal_commas(column):
    """A text column whose every present cell is a number written with a decimal comma, as float32."""
    if column.dtype != object:
        return column
    present = [v for v in column if v is not None]
    if not present or not any("," in v for v in present) or not all(DECIMAL_COMMA.match(v) for v in present):
        return column
    return np.array([np.nan if v is None else float(v.replace(",", ".")) for v in column], dtype=np.float32)


def _is_row_numbers(column):
    """An index: distinct whole numbers from 0, in any order (a shuffled split keeps its old index)."""
    if column.dtype.kind not in "iu" or len(column) == 0 or column.min() < 0:
        return False
    return len(np.unique(column)) == len(column)


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


def numeric_column(name, values, dtype=np.float64):
    """One column as numbers of ``dtype``, or a DataError naming the first bad or missing cell."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        out = values.astype(dtype)
    else:
        out = np.empty(len(values), dtype=dtype)
        for i, value in enumerate(values):
            if value is None:
                raise DataError(f"column {name!r}, row {i + 1}: a missing cell")
            try:
                out[i] = float(value)
            except (TypeError, ValueError):
                raise DataError(
                    f"column {name!r}, row {i + 1}: {str(value)!r} is not a number (a text column?)"
                ) from None
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        cell = values[bad[0]]
        missing = values.dtype.kind == "f" and np.isnan(cell)
        problem = "a missing cell" if missing else f"missing or not finite ({str(cell)!r})"
        raise DataError(f"column {name!r}, row {bad[0] + 1}: {problem}")
    return out


def split_features(names, columns, target=None, feature_names=None):
    """``(X float32 (n, k), feature names, target column or None)``.

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
    n = len(columns[0])
    X = np.empty((n, len(feature_names)), dtype=np.float32)  # filled a column at a time: no float64 copy
    for j, name in enumerate(feature_names):
        X[:, j] = numeric_column(name, columns[index[name]], np.float32)
    y = None if target is None else np.asarray(columns[index[target]])
    return X, list(feature_names), y
