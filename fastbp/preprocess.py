"""The command line's tabular preprocessing: raw table columns in, a float32 feature matrix out.

Learned on the training rows, stored in the model file as JSON (no pickle),
and applied again by ``fastbp predict`` to raw rows.  scikit-learn's
conventions are the reference (the tests compare with them):

- a number column: missing cells (empty, NA, NaN, null) become the training
  median (``SimpleImputer(strategy="median")``), then the column is
  standardised with the training mean and standard deviation; a column with
  missing cells in training adds a 0/1 missing-indicator column
  (``add_indicator=True``: indicators after every number column);
- a text column: one-hot over the categories seen in training, sorted (as
  ``OneHotEncoder``), then an "other" slot that takes categories left out by
  ``max_categories`` (the most frequent are kept) and, at predict time,
  values never seen (``handle_unknown="infrequent_if_exist"``, with the
  infrequent category always present).  A missing text cell is the
  category "".

Output columns: the standardised number columns, their indicators, then each
text column's one-hot block, in table order within each group.
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from .tabular import DataError

MAX_TEXT_VALUES = 1000  # more different values than this in a text column: an ID, not a category


@dataclass
class Column:
    """How one input column becomes features."""

    name: str
    kind: str  # "number" or "text"
    median: float = 0.0
    mean: float = 0.0
    scale: float = 1.0
    indicator: bool = False
    categories: list = field(default_factory=list)  # text: the kept categories, sorted

    @property
    def width(self):
        return 1 if self.kind == "number" else len(self.categories) + 1


def _as_numbers(values):
    """A number column as float64 holding float32 values (what the features train in, whichever file
    format brought them), NaN for missing cells; None when some present cell is not a number."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        return values.astype(np.float32).astype(np.float64)
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if value is None:
            continue
        try:
            out[i] = float(value)
        except (TypeError, ValueError):
            return None
    return out.astype(np.float32).astype(np.float64)


def _texts(values):
    return np.array(["" if v is None else str(v) for v in values], dtype=object)


def fit(names, columns, train_rows, max_categories=None):
    """The ``Column`` steps for ``names``/``columns`` (raw, as ``read_table`` gives them), learned on the
    rows where ``train_rows`` (bool (n,)) is True."""
    steps = []
    for name, values in zip(names, columns):
        numbers = _as_numbers(values)
        if numbers is not None:
            if np.isinf(numbers).any():
                row = int(np.flatnonzero(np.isinf(numbers))[0]) + 1
                raise DataError(f"column {name!r}, row {row}: an infinite value")
            train = numbers[train_rows]
            if np.isnan(train).all():
                raise DataError(f"column {name!r}: every training row is missing")
            median = float(np.nanmedian(train))
            filled = np.where(np.isnan(train), median, train)
            scale = float(filled.std()) or 1.0
            steps.append(
                Column(name, "number", median, float(filled.mean()), scale, bool(np.isnan(train).any()))
            )
        else:
            texts = _texts(values)[train_rows]
            kinds, counts = np.unique(texts, return_counts=True)
            if max_categories is None and (
                len(kinds) > MAX_TEXT_VALUES or len(kinds) > max(50, len(texts) / 2)
            ):
                raise DataError(
                    f"column {name!r} holds {len(kinds)} different text values in {len(texts)} training rows "
                    f"(an ID, or numbers written in a way fastbp does not read, such as {str(kinds[0])!r}?); "
                    "drop it, or one-hot only the most frequent with --max-categories N"
                )
            if max_categories is not None and len(kinds) > max_categories:
                order = np.lexsort((kinds, -counts))  # most frequent first, ties by name
                kinds = np.sort(kinds[order[:max_categories]])
            steps.append(Column(name, "text", categories=[str(k) for k in kinds]))
    return steps


def transform(steps, names, columns):
    """float32 (n, width): the features of the raw ``columns`` (named ``names``)."""
    index = {n: j for j, n in enumerate(names)}
    missing = [s.name for s in steps if s.name not in index]
    if missing:
        raise DataError(f"the data has no column {missing[0]!r}, which the model needs")
    n = len(columns[index[steps[0].name]])
    numbers = [s for s in steps if s.kind == "number"]
    texts = [s for s in steps if s.kind == "text"]
    width = len(numbers) + sum(s.indicator for s in numbers) + sum(s.width for s in texts)
    X = np.zeros((n, width), dtype=np.float32)
    j = 0
    absent = []
    for step in numbers:
        values = _as_numbers(columns[index[step.name]])
        if values is None:
            raise DataError(f"column {step.name!r} holds text; the model was trained on numbers there")
        gone = np.isnan(values)
        X[:, j] = (np.where(gone, step.median, values) - step.mean) / step.scale
        j += 1
        if step.indicator:
            absent.append(gone)
    for gone in absent:
        X[:, j] = gone
        j += 1
    for step in texts:
        slot = {c: k for k, c in enumerate(step.categories)}
        other = len(step.categories)
        codes = np.array([slot.get(t, other) for t in _texts(columns[index[step.name]])], dtype=np.int64)
        X[np.arange(n), j + codes] = 1.0
        j += step.width
    return X


def summary(steps, names, columns, train_rows):
    """One line: what the preprocessing does, e.g. "3 numeric, 1 text column (3 categories); 7% missing
    cells imputed"."""
    numbers = [s for s in steps if s.kind == "number"]
    texts = [s for s in steps if s.kind == "text"]
    index = {n: j for j, n in enumerate(names)}
    cells = missing = 0
    for step in numbers:
        values = _as_numbers(columns[index[step.name]])[train_rows]
        cells += len(values)
        missing += int(np.isnan(values).sum())
    parts = [f"{len(numbers)} numeric"]
    if texts:
        categories = sum(len(s.categories) for s in texts)
        parts[0] += f", {len(texts)} text column{'s' if len(texts) > 1 else ''} ({categories} categories)"
    else:
        parts[0] += f" column{'s' if len(numbers) != 1 else ''}"
    share = 100.0 * missing / cells if cells else 0.0
    parts.append(f"{share:.0f}% missing cells imputed" if missing else "no missing cells")
    return "; ".join(parts)


def to_json(steps):
    return [asdict(s) for s in steps]


def from_json(items):
    """Steps from a model file (untrusted): every field checked."""
    if not isinstance(items, list) or not items:
        raise ValueError("the model's column steps must be a non-empty list")
    steps = []
    for item in items:
        if not isinstance(item, dict) or set(item) != set(Column.__dataclass_fields__):
            raise ValueError(f"a column step holds {sorted(Column.__dataclass_fields__)}")
        step = Column(**item)
        numbers_ok = all(isinstance(getattr(step, k), (int, float)) for k in ("median", "mean", "scale"))
        if step.kind not in ("number", "text") or not isinstance(step.name, str) or not numbers_ok:
            raise ValueError(f"a column step is malformed: {item!r}"[:200])
        if not isinstance(step.categories, list) or not all(isinstance(c, str) for c in step.categories):
            raise ValueError("a text column's categories must be a list of strings")
        if len(set(step.categories)) != len(step.categories) or (step.kind == "number") != (
            not step.categories
        ):
            raise ValueError(
                f"column {step.name!r}: its categories must be distinct, and only a text column's"
            )
        if type(step.indicator) is not bool:
            raise ValueError(f"column {step.name!r}: indicator must be true or false")
        if not np.isfinite([step.median, step.mean, step.scale]).all() or step.scale == 0:
            raise ValueError(f"column {step.name!r}: its scaling is not finite")
        steps.append(step)
    if len({s.name for s in steps}) != len(steps):
        raise ValueError("two column steps name the same column")
    return steps


def width(steps):
    """How many features ``transform`` makes of ``steps``."""
    return sum(s.width + (s.kind == "number" and s.indicator) for s in steps)


__all__ = ["Column", "fit", "transform", "summary", "to_json", "from_json", "width"]
