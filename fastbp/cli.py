"""The ``fastbp`` command: ``train``, ``predict``, ``export``, ``bench`` and ``info``.

``fastbp train`` with no data trains on the handwritten digits that ship with
fastbp; ``fastbp train DATA --target COLUMN`` trains on a CSV (or Parquet, or
.npz) file.  The columns go through ``fastbp.preprocess`` (missing cells
imputed, numbers standardised, text one-hot encoded), learned on the
training rows and stored in the model file, so ``fastbp predict MODEL DATA``
takes raw rows.  Bad input ends with one line on stderr and exit status 2.
"""

import argparse
import csv
import json
import math
import os
import pathlib
import platform
import sys

import numpy as np

from . import io, preprocess
from .argparsing import EXIT_BAD_INPUT, DefaultsHelpFormatter, OneLineErrorParser
from .compiling import CompileWatch, notice
from .tabular import INDEX_NAMES, DataError, numeric_column, read_table, split_features

MAX_CLASSES_FOR_NUMBERS = 20  # whole-number targets with at most this many values are taken as classes
# what bad input or settings raise; FloatingPointError is fastbp.TrainingDiverged (a learning
# rate far too high), csv.Error a malformed CSV
LINEAR_BASELINE_EPOCHS = 300  # at most; its early stopping ends it sooner
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a process whose pipe closed
BAD_INPUT = (DataError, io.ModelFileError, ValueError, TypeError, OSError, FloatingPointError, csv.Error)


def _hidden_sizes(text):
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths like 128,64, got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return sizes


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan  # refused below with the same message
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def _positive_int(text, least=1, what="a positive integer"):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def _delimiter(text):
    named = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|"}.get(text.lower(), text)
    if len(named) != 1 or named in '"\r\n':
        raise argparse.ArgumentTypeError(f"expected one character or comma/semicolon/tab/pipe, got {text!r}")
    return named


def _count(text):
    return _positive_int(text, least=0, what="an integer >= 0")


def build_parser():
    parser = OneLineErrorParser(
        prog="fastbp",
        description="Train multilayer perceptrons on the CPU with compiled backpropagation.",
        epilog="With no arguments, fastbp runs 'fastbp train' on the bundled handwritten digits.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{train,predict,export,bench,info}")

    train = commands.add_parser(
        "train",
        help="train a network (on the bundled digits when no DATA is given)",
        description="Train an MLP on DATA (CSV, Parquet or .npz) or, without DATA, on the 8x8 handwritten "
        "digits bundled with fastbp (UCI optdigits, CC BY 4.0).",
        formatter_class=DefaultsHelpFormatter,
    )
    train.add_argument("data", nargs="?", help="a .csv (with a header row), .parquet or .npz file")
    train.add_argument("--target", help="the column to predict (required with DATA)")
    train.add_argument(
        "--delimiter", type=_delimiter,
        help="the CSV delimiter: one character, or comma, semicolon, tab or pipe (default: detected)",
    )  # fmt: skip
    train.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default="auto",
        help="auto: classification for text or few whole-number targets, else regression",
    )
    train.add_argument(
        "--hidden", type=_hidden_sizes, default="128,64", help="hidden widths, comma-separated"
    )
    train.add_argument("--activation", default="relu", help="hidden activation")
    train.add_argument("--loss", help="default cross_entropy (classification) or mse (regression)")
    train.add_argument(
        "--max-categories", type=_positive_int,
        help="one-hot a text column's most frequent values, at most this many; the rest share 'other'",
    )  # fmt: skip
    train.add_argument("--epochs", type=_positive_int, default=30, help="passes over the training rows")
    train.add_argument(
        "--patience", type=_count, default=5,
        help="stop when the validation loss has not improved for this many epochs, keeping the best "
        "epoch's weights; 0 trains every epoch",
    )  # fmt: skip
    train.add_argument("--batch-size", type=_positive_int, default=32, help="rows per gradient step")
    train.add_argument("--optimizer", default="adam", help="sgd, adam, adamw, rmsprop or adagrad")
    train.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    train.add_argument(
        "--val-split", type=_fraction, default=0.1, help="fraction of rows held out for validation"
    )
    train.add_argument("--seed", type=int, default=0, help="seeds the split, the weights and the shuffling")
    train.add_argument("--threads", type=_positive_int, help="threads for training (default: all cores)")
    train.add_argument("--out", help="model file to write (default: DATA's name, or digits, with .fbp)")
    train.add_argument("--plot", help="write the loss curves to this PNG (needs matplotlib)")
    train.add_argument("-q", "--quiet", action="store_true", help="no per-epoch progress")
    train.set_defaults(func=train_command)

    predict = commands.add_parser(
        "predict", help="predict with a saved model", description="Predict every row of DATA with MODEL."
    )
    predict.add_argument("model", help="a .fbp file written by 'fastbp train' or MLP.save")
    predict.add_argument("data", help="a .csv, .parquet or .npz file with the model's feature columns")
    predict.add_argument("--out", help="CSV file to write (default: standard output)")
    predict.add_argument("--proba", action="store_true", help="class probabilities instead of labels")
    predict.add_argument("--delimiter", type=_delimiter, help="the CSV delimiter (default: detected)")
    predict.set_defaults(func=predict_command)

    export = commands.add_parser(
        "export", help="write a model file as ONNX, with its feature and target scaling (needs onnx)"
    )
    export.add_argument("model", help="a .fbp file written by 'fastbp train' or MLP.save")
    export.add_argument("out", help="the .onnx file to write")
    export.add_argument("--opset", type=_positive_int, help="ONNX opset (default 17)")
    export.set_defaults(func=export_command)

    commands.add_parser("bench", help="throughput comparison with PyTorch, JAX and scikit-learn",
                        add_help=False)  # fmt: skip  # its own options: fastbp bench --help
    info = commands.add_parser("info", help="versions, threads, CPU features and cache folder")
    info.set_defaults(func=info_command)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        from .benchmark import main as bench_main

        bench_main(argv[1:], prog="fastbp bench")
        return 0
    parser = build_parser()
    args = parser.parse_args(argv or ["train"])
    if sys.stdout is None:  # pythonw and the like: nothing to print to
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (the process's own stdout until it ends)
    stdout = sys.stdout = ReaderSafeStdout(sys.stdout)
    try:
        status = args.func(args)
    except BAD_INPUT as exc:
        print(f"fastbp {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"fastbp {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        stdout.flush()
        sys.stdout = stdout.stream
    if stdout.reader_gone:
        print(f"fastbp {args.command}: standard output was closed early (broken pipe); the rest of the "
              "output was dropped, the command itself ran to its end", file=sys.stderr)  # fmt: skip
        return EXIT_BROKEN_PIPE
    return status


class ReaderSafeStdout:
    """Standard output that goes quiet once its reader has gone (``fastbp train | head -2``), so the
    command runs to its end (the model is saved) instead of dying on the next print."""

    def __init__(self, stream):
        self.stream, self.reader_gone = stream, False

    def write(self, text):
        if not self.reader_gone:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        if not self.reader_gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._gone()

    def _gone(self):
        self.reader_gone = True
        try:  # the interpreter's own flush at exit then writes nowhere instead of raising
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # not a real file (a test's capture)
            pass

    def __getattr__(self, name):  # isatty, fileno, encoding...: the stream's own
        return getattr(self.stream, name)


# --------------------------------------------------------------------- train
def _bundled_digits(seed):
    """Digits split 80/20 into training and test rows (per class, so both see every digit)."""
    from .datasets import load_digits

    X, y = load_digits()
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for digit in range(10):
        rows = rng.permutation(np.flatnonzero(y == digit))
        test[rows[: len(rows) // 5]] = True
    names = [f"pixel{i}" for i in range(64)]
    return X[~test], y[~test], X[test], y[test], names


def _encode_target(values, task, name):
    """``(task, targets for fit, classes or None, (mean, scale) or None)``."""
    values = np.asarray(values)
    if values.dtype == object and any(v is None for v in values):
        row = next(i for i, v in enumerate(values) if v is None) + 1
        raise DataError(f"column {name!r}, row {row}: a missing cell (the target must be known on every row)")
    numbers = None
    try:
        numbers = numeric_column(name, values)
    except DataError:
        # a column of numbers with a few bad cells is a data error, not a column of class names
        if task == "regression" or (task == "auto" and _mostly_numbers(values)):
            raise
    if task == "auto":
        few_whole = numbers is not None and np.all(numbers == np.round(numbers))
        few_whole = few_whole and len(np.unique(numbers)) <= MAX_CLASSES_FOR_NUMBERS
        task = "classification" if numbers is None or few_whole else "regression"
    if task == "classification":
        keys = numbers if numbers is not None else values.astype(str)
        classes, index = np.unique(keys, return_inverse=True)
        if len(classes) < 2:
            raise DataError(f"column {name!r} holds a single class; there is nothing to learn")
        # class names as the file spelled them: numbers stay numbers in the model file's JSON
        as_json = [str(c) if numbers is None else (int(c) if c == int(c) else float(c)) for c in classes]
        return task, index.astype(np.int64), as_json, None
    mean, scale = float(numbers.mean()), float(numbers.std()) or 1.0
    return task, ((numbers - mean) / scale).astype(np.float32), None, (mean, scale)


def _mostly_numbers(values):
    parsed = 0
    for value in values:
        try:
            parsed += np.isfinite(float(value))
        except (TypeError, ValueError):
            pass
    return parsed >= 0.5 * len(values)


def standardised(X, mean, scale):
    """``(X - mean) / scale`` in float32, as ``fastbp export``'s graph computes it."""
    return (np.asarray(X, dtype=np.float32) - mean.astype(np.float32)) / scale.astype(np.float32)


def _split(n, fraction, seed):
    """Boolean mask of the validation rows: ``fraction`` of ``n``, at least one row of each part."""
    mask = np.zeros(n, dtype=bool)
    n_val = int(round(fraction * n))
    if fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
        mask[np.random.default_rng(seed + 1).permutation(n)[:n_val]] = True
    return mask


def train_command(args):
    import fastbp

    if args.data is None:
        X, y, X_test, y_test, feature_names = _bundled_digits(args.seed)
        task, classes, target_name, target_scale = "classification", list(range(10)), "digit", None
        source = f"the bundled 8x8 digits ({len(y) + len(y_test)} images, {len(y_test)} held out for testing)"
        out = args.out or "digits.fbp"
        names, columns = feature_names, list(X.T)
    else:
        if args.target is None:
            raise DataError("--target COLUMN is required with a data file")
        notes = []
        names, columns = read_table(args.data, args.delimiter, notes, target=args.target)
        for note in notes:
            print(note)
        if args.target not in names:
            raise DataError(f"no column named {args.target!r}; the columns are {', '.join(names)}")
        target = columns[names.index(args.target)]
        keep = [j for j, name in enumerate(names) if name != args.target]
        names, columns = [names[j] for j in keep], [columns[j] for j in keep]
        if not names:
            raise DataError("there are no feature columns besides the target")
        task, y, classes, target_scale = _encode_target(target, args.task, args.target)
        X_test = y_test = None
        target_name = args.target
        source = f"{args.data} ({len(y)} rows, {len(names)} columns, {task} of {args.target!r})"
        out = args.out or str(pathlib.Path(pathlib.Path(args.data).stem).with_suffix(".fbp"))
        feature_names = list(names)

    _check_out(out)
    val = _split(len(y), args.val_split, args.seed)
    steps = preprocess.fit(names, columns, ~val, args.max_categories)
    X = preprocess.transform(steps, names, columns)  # float32, imputed, standardised, one-hot
    print(f"features: {preprocess.summary(steps, names, columns, ~val)}")
    del columns

    def standardise(A):  # the bundled digits' held-out test rows
        return preprocess.transform(steps, feature_names, list(np.asarray(A).T))

    n_out = len(classes) if task == "classification" else 1
    loss = args.loss or ("cross_entropy" if task == "classification" else "mse")
    if task == "classification" and loss != "cross_entropy":
        raise DataError(f"classification trains with cross_entropy, not {loss!r}")
    net = fastbp.MLP([X.shape[1], *args.hidden, n_out], activation=args.activation, loss=loss, seed=args.seed)
    optimizer = _optimizer(args.optimizer, args.lr)
    X_train, y_train = X[~val], y[~val]
    validation = (X[val], y[val]) if val.any() else None
    shape = "-".join(map(str, net.sizes))
    print(f"training a {shape} {args.activation} network ({net.n_params:,} parameters) on {source}")
    replacing = " (replacing the file there)" if pathlib.Path(out).exists() else ""
    print(f"the model will be saved to {out}{replacing}; --out chooses another file")
    patience = args.patience if validation is not None and args.patience > 0 else None
    fit_options = {
        "epochs": args.epochs, "batch_size": args.batch_size, "optimizer": optimizer, "patience": patience,
        "validation_data": validation, "n_threads": args.threads, "seed": args.seed,
    }  # fmt: skip
    # with progress lines fit says itself when it compiles; quiet, the command still does
    with CompileWatch(notice("training kernel") if args.quiet else None):
        history = net.fit(X_train, y_train, verbose=0 if args.quiet else 1, **fit_options)
    if history.stopped_early:
        best = int(np.argmin(history.val_loss)) + 1
        print(f"stopped after epoch {len(history.loss)}: the validation loss had not improved for "
              f"{args.patience} epochs; the model keeps epoch {best}'s weights")  # fmt: skip

    lines = [f"final loss {history.loss[-1]:.4f}"]
    with CompileWatch(notice("prediction kernel")):  # the scores run predict: a first run compiles it
        if validation is not None:
            lines.append(_score(net, task, *validation, target_scale, "validation"))
        if X_test is not None:
            lines.append(_score(net, task, standardise(X_test), y_test, target_scale, "test"))
        if validation is not None:  # does the hidden layer earn its keep?
            linear = _linear_baseline(X_train, y_train, n_out, loss, fit_options)
            baseline = _metrics(linear, task, *validation, target_scale)
    timed = history.seconds[1:] or history.seconds  # compiling is left out; the first epoch warms up
    rate = len(y_train) * len(timed) / max(sum(timed), 1e-9)
    lines.append(f"{rate:,.0f} samples/s ({6 * net.n_params * rate / 1e9:.2f} GFLOP/s)")
    print("; ".join(lines))
    if validation is not None:
        print(
            f"linear baseline (no hidden layer, stopped on the same validation rows): validation {baseline}"
        )

    extra = {
        "cli": {
            "task": task, "target": target_name, "classes": classes, "feature_names": feature_names,
            "target_mean": target_scale[0] if target_scale else 0.0,
            "target_scale": target_scale[1] if target_scale else 1.0,
            "columns": preprocess.to_json(steps),
        }
    }  # fmt: skip
    try:
        io.save(net, out, extra=extra)
    except OSError as exc:  # checked before training, but the disk may fill or the folder go
        raise DataError(f"could not write the model to {out}: {exc.strerror or exc}") from None
    print(f"saved the model to {out}  (use it: fastbp predict {out} DATA.csv)")
    if args.plot:
        _plot_history(history, args.plot, f"fastbp {shape} {args.activation} MLP, target {target_name!r}")
        print(f"wrote the loss curves to {args.plot}")
    return 0


def _check_out(out, option="--out "):
    """Refuse an output file that cannot be written before any work, naming the path as the user gave it."""
    path = pathlib.Path(out)
    folder = path.parent
    if path.is_dir():
        raise DataError(f"{option}{out}: a folder, not a file name")
    if not folder.is_dir():
        raise DataError(f"{option}{out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{option}{out}: cannot write in the folder {folder}")


def _steps(meta, path):
    try:
        return preprocess.from_json(meta["columns"])
    except (TypeError, ValueError) as exc:
        raise io.ModelFileError(f"{path}: its column steps are damaged ({exc})") from None


def _read_model(path):
    if not pathlib.Path(path).is_file():
        raise DataError(f"{path}: no such model file")
    return io.read(path)


def _optimizer(name, lr):
    from .optimizers import OPTIMIZERS

    if name.lower() not in OPTIMIZERS:
        raise DataError(f"unknown optimizer {name!r}; choose one of {', '.join(sorted(OPTIMIZERS))}")
    return OPTIMIZERS[name.lower()](lr=lr)


def _linear_baseline(X, y, n_out, loss, fit_options):
    """Least squares or logistic regression: a network without a hidden layer, trained by fastbp's own
    (already compiled) epochs until its validation loss stops improving.  A convex problem, so a
    larger step and more epochs than the network's reach its optimum."""
    from .model import MLP
    from .optimizers import Adam

    linear = MLP([X.shape[1], n_out], loss=loss, seed=fit_options["seed"])
    options = {**fit_options, "optimizer": Adam(lr=0.01), "epochs": LINEAR_BASELINE_EPOCHS, "patience": 10}
    linear.fit(X, y, **options)
    return linear


def _score(net, task, X, y, target_scale, label):
    return f"{label} {_metrics(net, task, X, y, target_scale)} ({len(y)} rows)"


def _metrics(net, task, X, y, target_scale):
    """Accuracy, or RMSE and R^2 in the target's own units."""
    out = net.predict(X)
    if task == "classification":
        return f"accuracy {np.mean(out.argmax(axis=1) == y):.4f}"
    mean, scale = target_scale
    truth = y * scale + mean
    pred = out[:, 0] * scale + mean
    rmse = float(np.sqrt(np.mean((pred - truth) ** 2)))
    r2 = 1.0 - float(np.sum((pred - truth) ** 2) / max(np.sum((truth - truth.mean()) ** 2), 1e-300))
    return f"RMSE {rmse:.4g}, R^2 {r2:.4f}"


def _plot_history(history, path, title):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DataError("--plot needs matplotlib: pip install 'fastbp[cli]'") from None
    epochs = np.arange(1, len(history.loss) + 1)
    panels = 2 if history.val_accuracy else 1
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    ax.plot(epochs, history.loss, label="training loss")
    if history.val_loss:
        ax.plot(epochs, history.val_loss, label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.legend()
    if panels == 2:
        axes[0, 1].plot(epochs, history.val_accuracy, color="tab:green")
        axes[0, 1].set_xlabel("epoch")
        axes[0, 1].set_ylabel("validation accuracy")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------- predict
def predict_command(args):
    from .model import network_from  # numba loads with the model: only when a command needs it

    stored = _read_model(args.model)
    net = network_from(stored, args.model)
    meta = stored.header["extra"].get("cli")
    steps = _steps(meta, args.model) if meta and "columns" in meta else None
    if steps is not None and preprocess.width(steps) != net.sizes[0]:
        raise io.ModelFileError(f"{args.model}: its column steps make {preprocess.width(steps)} features, "
                                f"its network takes {net.sizes[0]}")  # fmt: skip
    features = meta["feature_names"] if meta else []
    notes = []
    names, columns = read_table(
        args.data, args.delimiter, notes, text=[s.name for s in steps or () if s.kind == "text"],
        index_column=not any(name in INDEX_NAMES for name in features),
    )  # fmt: skip
    for note in notes:
        print(note, file=sys.stderr)  # standard output may be the predictions
    if steps is not None:
        X = preprocess.transform(steps, names, columns)
    else:  # a model file from before the preprocessing step, or one saved by MLP.save
        X, _, _ = split_features(names, columns, feature_names=meta["feature_names"] if meta else None)
        if "feature_mean" in stored.arrays:
            X = standardised(X, stored.arrays["feature_mean"], stored.arrays["feature_scale"])
    if X.shape[1] != net.sizes[0]:
        raise DataError(f"{args.data} gives {X.shape[1]} features, the model expects {net.sizes[0]}")
    out = net.predict(X.astype(net.dtype))  # a first call says on stderr when it compiles
    task = meta["task"] if meta else ("classification" if net.loss == "cross_entropy" else "regression")
    if task == "classification":
        classes = meta["classes"] if meta else list(range(net.sizes[-1]))
        if args.proba:
            header, rows = [f"p_{c}" for c in classes], [[f"{p:.6g}" for p in row] for row in out]
        else:
            header, rows = (
                [meta["target"] if meta else "prediction"],
                [[classes[i]] for i in out.argmax(axis=1)],
            )
    else:
        if args.proba:
            raise DataError("--proba is for classification models; this one is a regression")
        mean, scale = (meta["target_mean"], meta["target_scale"]) if meta else (0.0, 1.0)
        values = out * scale + mean
        header = (
            [meta["target"]] if meta and values.shape[1] == 1 else [f"y{j}" for j in range(values.shape[1])]
        )
        rows = [[f"{v:.8g}" for v in row] for row in values]
    if args.out:
        with open(args.out, "w", newline="") as f:
            _write_csv(f, header, rows)
        print(f"wrote {len(rows)} predictions to {args.out}", file=sys.stderr)
    else:
        _write_csv(sys.stdout, header, rows)
    return 0


def _write_csv(stream, header, rows):
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


# --------------------------------------------------------------------- export
def export_command(args):
    """The model as ONNX, taking the raw feature rows ``fastbp predict`` takes and answering in its units."""
    from .model import network_from

    try:
        from . import onnx_export

        onnx_export._onnx()
    except ImportError as exc:
        raise DataError(str(exc)) from None
    stored = _read_model(args.model)
    _check_out(args.out, option="")
    net = network_from(stored, args.model)
    meta = stored.header["extra"].get("cli")
    g = onnx_export.Graph(net.dtype, args.opset)
    if meta and "columns" in meta:
        steps = _steps(meta, args.model)
        if preprocess.width(steps) != net.plan.n_in:
            raise io.ModelFileError(f"{args.model}: its column steps do not fit its network")
        x = onnx_export.add_columns(g, steps)
        numbers = [s.name for s in steps if s.kind == "number"]
        inputs = [
            f"'X' (N, {len(numbers)}) {net.dtype.name}: the columns {', '.join(numbers)}, NaN where missing"
        ]
        inputs = inputs[: bool(numbers)] + [f"{s.name!r} (N, 1) strings" for s in steps if s.kind == "text"]
    else:
        inputs = [f"'X' (N, {net.plan.n_in}) {net.dtype.name}"]
        x = g.input("X", net.plan.n_in)
        if "feature_mean" in stored.arrays:
            x = onnx_export.add_standardise(
                g, x, stored.arrays["feature_mean"], stored.arrays["feature_scale"]
            )
    out = onnx_export.add_network(g, net, x)
    task = meta["task"] if meta else ("classification" if net.loss == "cross_entropy" else "regression")
    if task == "classification":
        classes = meta["classes"] if meta else list(range(net.plan.n_out))
        label, elem = onnx_export.add_labels(g, out, classes)
        g.output(g.rename(label, "label"), [], elem)
        g.output(g.rename(out, "probabilities"), [net.plan.n_out])
        said = f"'label' (N,) and 'probabilities' (N, {net.plan.n_out}) over classes {classes}"
    else:
        if meta:
            scaled = g.node("Mul", [out, g.constant("target_scale", meta["target_scale"])], "target_scaled")
            out = g.node("Add", [scaled, g.constant("target_mean", meta["target_mean"])], "target")
        g.output(g.rename(out, "prediction"), [net.plan.n_out])
        said = f"'prediction' (N, {net.plan.n_out})"
        if meta:
            said += f", {meta['target']!r} in its own units"
    features = meta["feature_names"] if meta else None
    model = g.model("fastbp_cli_model", doc=f"feature columns: {features}" if features else "")
    if features:
        g.onnx.helper.set_model_props(model, {"feature_names": json.dumps(features)})
    onnx_export.save(model, args.out)
    print(f"wrote {args.out}: inputs {'; '.join(inputs)}; outputs {said}")
    return 0


# --------------------------------------------------------------------- info
def info_command(args):
    import llvmlite.binding as llvm
    import numba
    import scipy

    import fastbp

    from .kernels import network

    def version(module):
        try:
            return __import__(module).__version__
        except ImportError:
            return "not installed"
        except AttributeError:
            return "installed"

    network.all_finite(np.zeros(1))  # a compiled call, so numba has started its threads
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not started"
    features = llvm.get_host_cpu_features()
    wanted = ["avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "neon", "sve"]
    present = [f for f in wanted if features.get(f, False)]
    rows = [
        ("fastbp", fastbp.__version__),
        ("python", platform.python_version()),
        ("numpy", np.__version__),
        ("numba", numba.__version__),
        ("scipy", scipy.__version__),
        *[(name, version(module)) for name, module in [
            ("scikit-learn", "sklearn"), ("pandas", "pandas"), ("dask", "dask"), ("tqdm", "tqdm"),
            ("matplotlib", "matplotlib"), ("torch", "torch"), ("jax", "jax"),
        ]],
        ("threads", f"{fastbp.get_num_threads()} (numba's pool: {numba.config.NUMBA_NUM_THREADS})"),
        ("threading layer", layer),
        ("cpu", f"{llvm.get_host_cpu_name()}, {platform.machine()}"),
        ("cpu features", ", ".join(present) or "none of " + ", ".join(wanted)),
        ("kernel cache", network.train_epoch._cache._cache_path),
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    return 0
