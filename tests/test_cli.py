"""The ``fastbp`` command, run as a user runs it: a subprocess, real files, exit statuses."""

import csv
import io
import os
import subprocess
import sys

import numpy as np
import pytest

import fastbp
from fastbp.progress import EpochReporter


def run(*args, cwd=None):
    command = [sys.executable, "-m", "fastbp", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=600)


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    kind = np.where(X[:, 0] + X[:, 1] > 0.3, "high", np.where(X[:, 2] > 0, "mid", "low"))
    write_csv(folder / "kinds.csv", ["a", "b", "c", "kind"], [[*np.round(r, 5), k] for r, k in zip(X, kind)])
    price = 100 + 30 * X[:, 0] - 10 * X[:, 1] ** 2
    rows = [[*np.round(r[:2], 5), p] for r, p in zip(X, price)]
    write_csv(folder / "house.csv", ["rooms", "age", "price"], rows)
    return folder, X, kind, price


def read_csv(text):
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def test_train_with_no_arguments_uses_the_bundled_digits(tmp_path):
    result = run("train", "--epochs", "3", "--plot", "curves.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bundled 8x8 digits (1797 images" in out
    assert "epoch 3/3" in out  # not a terminal: one line per epoch
    assert "test accuracy" in out and "samples/s" in out and "saved the model to digits.fbp" in out
    accuracy = float(out.split("test accuracy ")[1].split()[0])
    assert accuracy > 0.85
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    net = fastbp.load(tmp_path / "digits.fbp")
    assert net.sizes == (64, 128, 64, 10)


def test_train_and_predict_a_csv_with_text_labels(tables, tmp_path):
    folder, X, kind, _ = tables
    model = tmp_path / "kinds.fbp"
    result = run("train", folder / "kinds.csv", "--target", "kind", "--hidden", "32,16", "--epochs", "40",
                 "--seed", "1", "--out", model, "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "classification of 'kind'" in result.stdout and "validation accuracy" in result.stdout
    assert "epoch" not in result.stdout  # --quiet
    labels = run("predict", model, folder / "kinds.csv")
    assert labels.returncode == 0, labels.stderr
    header, rows = read_csv(labels.stdout)
    assert header == ["kind"]
    assert np.mean(np.array([r[0] for r in rows]) == kind) > 0.9  # raw rows in, scaling from the model file
    out_file = tmp_path / "p.csv"
    proba = run("predict", model, folder / "kinds.csv", "--proba", "--out", out_file)
    assert proba.returncode == 0, proba.stderr
    header, rows = read_csv(out_file.read_text())
    assert header == ["p_high", "p_low", "p_mid"]
    np.testing.assert_allclose(np.array(rows, dtype=float).sum(axis=1), 1.0, atol=1e-4)


def test_regression_is_inferred_and_predicts_in_target_units(tables, tmp_path):
    folder, X, _, price = tables
    model = tmp_path / "house.fbp"
    result = run("train", folder / "house.csv", "--target", "price", "--epochs", "60", "--out", model, "-q")
    assert result.returncode == 0, result.stderr
    assert "regression of 'price'" in result.stdout and "R^2" in result.stdout
    predicted = run("predict", model, folder / "house.csv")
    header, rows = read_csv(predicted.stdout)
    assert header == ["price"]
    values = np.array(rows, dtype=float)[:, 0]
    assert 1 - np.sum((values - price) ** 2) / np.sum((price - price.mean()) ** 2) > 0.9


def _same_model(a, b):
    """Two model files hold the same network, weights and command-line fields (column steps included)."""
    first, second = fastbp.io.read(a), fastbp.io.read(b)
    assert first.header["config"] == second.header["config"]
    assert first.header["extra"] == second.header["extra"] and first.header["extra"]["cli"]["columns"]
    assert first.arrays.keys() == second.arrays.keys() == {"params"}
    for name in first.arrays:
        np.testing.assert_array_equal(first.arrays[name], second.arrays[name], err_msg=name)


def _train_twins(folder, data, csv_twin, target, options, says):
    """Train on ``data`` and on its CSV twin (to ``<name>.fbp``); both succeed and give the same model."""
    for name in (data, csv_twin):
        result = run("train", folder / name, "--target", target, *options, "--out", folder / f"{name}.fbp")
        assert result.returncode == 0, result.stderr
        assert says in result.stdout
    _same_model(folder / f"{data}.fbp", folder / f"{csv_twin}.fbp")


def test_npz_and_parquet_data(tables, tmp_path):
    """Each format trains the model its CSV twin (every float written in full) trains, and it learns."""
    folder, X, kind, price = tables
    train = ["--epochs", "30", "--hidden", "32", "--lr", "0.01", "--seed", "3", "--quiet"]
    np.savez(tmp_path / "house.npz", X=X[:, :2], y=price)
    write_csv(tmp_path / "house_full.csv", ["x0", "x1", "y"], [[repr(float(v)) for v in (*r[:2], p)]
                                                             for r, p in zip(X, price)])  # fmt: skip
    _train_twins(tmp_path, "house.npz", "house_full.csv", "y", train, "regression of 'y'")
    predicted = run("predict", tmp_path / "house.npz.fbp", tmp_path / "house.npz")
    assert predicted.returncode == 0, predicted.stderr
    header, rows = read_csv(predicted.stdout)
    values = np.array(rows, dtype=float)[:, 0]
    assert header == ["y"]
    r2 = 1 - np.sum((values - price) ** 2) / np.sum((price - price.mean()) ** 2)
    assert r2 > 0.9  # in price units: the target's scaling came back from the model file

    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "kind": kind})
    frame.to_parquet(tmp_path / "kinds.parquet")
    write_csv(tmp_path / "kinds_full.csv", ["a", "b", "c", "kind"], [[*map(repr, map(float, r)), k]
                                                                     for r, k in zip(X, kind)])  # fmt: skip
    _train_twins(tmp_path, "kinds.parquet", "kinds_full.csv", "kind", train, "classification of 'kind'")
    # the model's columns are picked by name: reordered, with another column, the answers are the same
    frame[["c", "kind", "b", "a"]].assign(extra=1.0).to_parquet(tmp_path / "shuffled.parquet")
    labels = run("predict", tmp_path / "kinds.parquet.fbp", tmp_path / "kinds.parquet")
    shuffled = run("predict", tmp_path / "kinds.parquet.fbp", tmp_path / "shuffled.parquet")
    assert labels.returncode == shuffled.returncode == 0, labels.stderr + shuffled.stderr
    assert labels.stdout == shuffled.stdout
    header, rows = read_csv(labels.stdout)
    assert header == ["kind"] and np.mean(np.array([r[0] for r in rows]) == kind) > 0.9


# what argparse's types refuse, and a target with a single class
ARGUMENT_ERRORS = [
    (["train", "{kinds}", "--target", "kind", "--hidden", "a,b"],
     "argument --hidden: expected comma-separated layer widths like 128,64, got 'a,b'"),
    (["train", "{kinds}", "--target", "kind", "--epochs", "0"],
     "argument --epochs: expected a positive integer, got '0'"),
    (["train", "{kinds}", "--target", "kind", "--epochs", "2.5"],
     "argument --epochs: expected a positive integer, got '2.5'"),
    (["train", "{kinds}", "--target", "kind", "--val-split", "1.5"],
     "argument --val-split: expected a fraction in [0, 1), got '1.5'"),
    (["train", "{kinds}", "--target", "kind", "--val-split", "half"],
     "argument --val-split: expected a fraction in [0, 1), got 'half'"),
    (["train", "{kinds}", "--target", "kind", "--threads", "0"],
     "argument --threads: expected a positive integer, got '0'"),
    (["train", "{single}", "--target", "kind"], "column 'kind' holds a single class; there is nothing"),
    (["train", "{one_number}", "--target", "n"], "column 'n' holds a single class; there is nothing"),
]  # fmt: skip


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "missing.csv", "--target", "x"], "no such file"),
        (["train", "{kinds}", "--target", "nope"], "no column named 'nope'"),
        (["train", "{kinds}"], "--target COLUMN is required"),
        (["train", "{empty}", "--target", "a"], "the file is empty"),
        (["train", "{header_only}", "--target", "a"], "no rows"),
        (["train", "{kinds}", "--target", "kind", "--task", "regression"], "is not a number"),
        (["train", "{kinds}", "--target", "kind", "--hidden", "0"], "layer widths must be positive"),
        (["train", "{kinds}", "--target", "kind", "--optimizer", "newton"], "unknown optimizer"),
        (["train", "{kinds}", "--target", "kind", "--activation", "swish"], "unknown activation"),
        (["predict", "{kinds}", "{kinds}"], "not a fastbp model file"),
        (["predict", "missing.fbp", "{kinds}"], "missing.fbp: no such model file"),
        (["frobnicate"], "invalid choice"),
        (["train", "{gap}", "--target", "price"], "column 'price', row 2: a missing cell"),
        # SGD: its steps grow with the gradient until the loss overflows (Adam's are bounded by lr)
        (["train", "{kinds}", "--target", "kind", "--optimizer", "sgd", "--lr", "1e9"], "training diverged"),
        (["bench", "--only", "nosuch"], "unknown case 'nosuch'"),
        *ARGUMENT_ERRORS,
    ],
)
def test_bad_input_is_one_line_and_exit_status_2(args, message, tables, tmp_path):
    folder = tables[0]
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,x\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("a,b\n")
    (tmp_path / "gap.csv").write_text("rooms,price\n1,10.5\n2,\n3,30.25\n4,41.5\n")
    (tmp_path / "single.csv").write_text("a,kind\n1,cat\n2,cat\n3,cat\n4,cat\n")
    (tmp_path / "one_number.csv").write_text("a,n\n1,3\n2,3\n3,3\n4,3\n")
    paths = {"kinds": folder / "kinds.csv", "bad": tmp_path / "bad.csv", "empty": tmp_path / "empty.csv",
             "header_only": tmp_path / "header_only.csv", "gap": tmp_path / "gap.csv",
             "single": tmp_path / "single.csv", "one_number": tmp_path / "one_number.csv"}  # fmt: skip
    result = run(*[a.format(**paths) for a in args], cwd=tmp_path)
    _assert_refused(result, message)
    assert not list(tmp_path.glob("*.fbp"))  # refused before a model file is written


def _assert_refused(result, message):
    """Bad input: exit status 2, one line on stderr that holds ``message``, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


def test_predict_refuses_what_the_model_cannot_answer(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    np.savez(tmp_path / "two.npz", X=X, y=X[:, 0] - X[:, 1])
    np.savez(tmp_path / "three.npz", X=rng.normal(size=(5, 3)))
    model = tmp_path / "r.fbp"
    trained = run("train", tmp_path / "two.npz", "--target", "y", "--epochs", "2", "-q", "--out", model)
    assert trained.returncode == 0, trained.stderr
    _assert_refused(run("predict", tmp_path / "r.fbp", tmp_path / "two.npz", "--proba"),
                    "--proba is for classification models; this one is a regression")  # fmt: skip
    # a network saved by MLP.save has no column names: its input width is all there is to check
    fastbp.MLP([2, 4, 1], seed=0).save(tmp_path / "plain.fbp")
    _assert_refused(run("predict", tmp_path / "plain.fbp", tmp_path / "three.npz"),
                    "three.npz gives 3 features, the model expects 2")  # fmt: skip
    # and a model from fastbp train needs its named columns
    np.savez(tmp_path / "renamed.npz", u=X[:, 0], v=X[:, 1])
    _assert_refused(run("predict", tmp_path / "r.fbp", tmp_path / "renamed.npz"),
                    "the data has no column 'x0', which the model needs")  # fmt: skip


def test_predict_needs_the_models_columns(tables, tmp_path):
    folder = tables[0]
    model = tmp_path / "kinds.fbp"
    trained = run("train", folder / "kinds.csv", "--target", "kind", "--epochs", "2", "--out", model, "-q")
    assert trained.returncode == 0
    write_csv(tmp_path / "partial.csv", ["a", "c"], [[1, 2]])
    result = run("predict", model, tmp_path / "partial.csv")
    assert result.returncode == 2 and "no column 'b'" in result.stderr


def test_info_help_and_bench():
    info = run("info")
    assert info.returncode == 0, info.stderr
    for field in ["fastbp", "numba", "threading layer", "cpu features", "kernel cache"]:
        assert field in info.stdout
    for command in ([], ["train"], ["predict"], ["bench"]):
        helped = run(*command, "--help")
        assert helped.returncode == 0 and "usage: fastbp" in helped.stdout
    bench = run("bench", "--only", "tiny", "--peers", "", "--no-extras", "--repeats", "1")
    assert bench.returncode == 0, bench.stderr
    assert "| tiny | 10-5-1 | 32 |" in bench.stdout


def test_fit_progress_lines_quiet_and_callbacks(capsys, rng):
    X = rng.normal(size=(100, 3)).astype(np.float32)
    y = rng.integers(0, 2, size=100)
    net = fastbp.MLP([3, 4, 2], loss="cross_entropy")
    net.fit(X, y, epochs=3, verbose=0)
    assert capsys.readouterr().out == ""
    net.fit(X, y, epochs=3, verbose=2, validation_data=(X, y))
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("epoch 3/3")
    assert "val_acc" in lines[-1] and "left" in lines[-1]
    seen = []
    stop_after_3 = lambda info: seen.append(info["epoch"]) or info["epoch"] == 3  # noqa: E731
    history = net.fit(X, y, epochs=10, callbacks=[stop_after_3])
    assert seen == [0, 1, 2, 3] and history.stopped_early and len(history.loss) == 4


def test_live_bar_uses_tqdm_on_a_terminal():
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    reporter = EpochReporter(2, stream=stream, live=True)
    info = {"epoch": 0, "loss": 0.5, "val_loss": None, "val_accuracy": None, "samples_per_second": 1e6}
    reporter(info)
    reporter({**info, "epoch": 1})
    reporter.close()
    assert "2/2" in stream.getvalue() and "1,000,000 samples/s" in stream.getvalue()


def test_no_arguments_runs_the_main_job(tmp_path):
    result = run(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "bundled 8x8 digits" in result.stdout and (tmp_path / "digits.fbp").exists()


def test_the_compile_notice_shows_on_the_first_run_only(tmp_path):
    """In a fresh kernel cache the first `fastbp train` says it compiles; the next one, cached, does not."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "fastbp", "train", "--epochs", "1", "--out", str(tmp_path / "m.fbp")]
    first, second = (
        subprocess.run(command, capture_output=True, text=True, env=env, timeout=600) for _ in "ab"
    )
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "compiling fastbp's training kernel for this machine" in first.stdout
    assert "compiling fastbp's evaluation kernels" in first.stdout  # the validation after epoch 1
    epoch_line = next(line for line in first.stdout.splitlines() if line.startswith("epoch 1/1"))
    assert "s compiling, not counted" in epoch_line  # the samples/s leave the compile out
    assert "compiling fastbp's" not in second.stdout
    # the library's predict says so too (on stderr), for a kind the command did not compile: float64
    code = "import numpy as np, fastbp; fastbp.MLP([3, 4, 2], dtype='float64').predict(np.zeros((2, 3)))"
    command = [sys.executable, "-c", code]
    firsts = [subprocess.run(command, capture_output=True, text=True, env=env, timeout=600) for _ in "ab"]
    assert "compiling fastbp's prediction kernel" in firsts[0].stderr
    assert "compiling" not in firsts[1].stderr and firsts[1].returncode == 0
