"""The way in, as a new user meets it: --help shows the defaults, a bad --out is refused before training,
a closed pipe does not lose the model, missing files and extras get one clear line, and an install
that cannot write numba's cache still imports."""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def fastbp_command(*args, cwd, env=None, **kwargs):
    command = [sys.executable, "-m", "fastbp", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=600, env=env, **kwargs)


def test_train_help_shows_every_default(tmp_path):
    flat = " ".join(fastbp_command("train", "--help", cwd=tmp_path).stdout.split())
    defaults = [
        ("--epochs", "30"),
        ("--batch-size", "32"),
        ("--val-split", "0.1"),
        ("--seed", "0"),
        ("--optimizer", "adam"),
        ("--lr", "0.001"),
        ("--hidden", "128,64"),
        ("--activation", "relu"),
    ]
    for option, default in defaults:
        described = flat.split(f" {option} ")[1].split(" --")[0]  # from the option to the next one
        assert described.endswith(f"(default: {default})"), (option, described)
    assert "(default: None)" not in flat and "(default: False)" not in flat


@pytest.mark.parametrize(
    ("out", "message"),
    [("missing/dir/m.fbp", "--out missing/dir/m.fbp: the folder missing/dir does not exist"),
     (".", "--out .: a folder, not a file name")],
)  # fmt: skip
def test_a_bad_out_is_refused_before_training_naming_the_users_path(tmp_path, out, message):
    done = fastbp_command("train", "--epochs", "1", "--out", out, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr and ".tmp" not in done.stderr
    assert "epoch" not in done.stdout  # nothing trained
    assert not list(tmp_path.rglob("*.fbp"))


def test_a_bare_run_says_up_front_where_the_model_goes(tmp_path):
    (tmp_path / "digits.fbp").write_bytes(b"old")
    done = fastbp_command("train", "--epochs", "1", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    said = next(i for i, line in enumerate(lines) if "will be saved to digits.fbp" in line)
    assert "replacing the file there" in lines[said] and said < 3


def test_a_closed_pipe_stops_the_printing_not_the_training(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "fastbp", "train", "--epochs", "6", "--out", "m.fbp"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=env)
    first = [proc.stdout.readline() for _ in range(2)]  # then the reader goes away, as `| head -2` does
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=600) == 141, stderr
    assert (
        all(first)
        and "broken pipe" in stderr
        and "Traceback" not in stderr
        and "Exception ignored" not in stderr
    )
    import fastbp

    assert fastbp.load(tmp_path / "m.fbp").epochs_trained == 6


def test_a_missing_model_file_gets_one_clear_line(tmp_path):
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    for args in (["predict", "missing.fbp", "d.csv"], ["export", "missing.fbp", "m.onnx"]):
        done = fastbp_command(*args, cwd=tmp_path)
        assert (
            done.returncode == 2
            and done.stderr == f"fastbp {args[0]}: error: missing.fbp: no such model file\n"
        )


def test_the_estimators_without_scikit_learn_say_which_extra_to_install(tmp_path):
    code = "import sys; sys.modules['sklearn'] = None\ntry:\n    from fastbp import MLPClassifier\n"
    code += "except ImportError as exc:\n    print(exc)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert done.stdout.strip() == 'fastbp.MLPClassifier needs scikit-learn: pip install "fastbp[sklearn]"'


# ------------------------------------------------------------------ numba's cache
# Root may write anywhere, so the read-only install is simulated: before fastbp is imported, files can be
# created only under TMPDIR, as for a user whose install folder and home are not theirs.
ONLY_TMPDIR_WRITABLE = """
import os, sys, tempfile
real = tempfile.TemporaryFile
def refuse_outside_tmpdir(*args, dir=None, **kwargs):
    if dir is not None and not os.path.realpath(dir).startswith(os.path.realpath(os.environ["TMPDIR"])):
        raise PermissionError(13, "Permission denied", str(dir))
    return real(*args, dir=dir, **kwargs)
tempfile.TemporaryFile = refuse_outside_tmpdir
if os.environ.get("NO_PRIVATE_FOLDER"):
    tempfile.tempdir = "/proc/fastbp-cannot-be-here"
import warnings
warnings.simplefilter("always")
import numpy as np
import fastbp
from numba.core import config
print("cache", config.CACHE_DIR)
print(fastbp.MLP([2, 3, 1], seed=0).predict(np.ones((1, 2)))[0, 0])
"""


@pytest.mark.parametrize("private_folder", [True, False])
def test_an_install_that_cannot_write_numbas_cache_still_imports(tmp_path, private_folder):
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env.update({"TMPDIR": str(tmp_path), "HOME": "/proc/fastbp-no-home"})  # not even root makes it
    if not private_folder:
        env["NO_PRIVATE_FOLDER"] = "1"
    done = subprocess.run([sys.executable, "-c", ONLY_TMPDIR_WRITABLE], capture_output=True, text=True,
                          timeout=600, env=env, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    cache_line, value = done.stdout.splitlines()
    float(value)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    if private_folder:
        folder = tmp_path / f"fastbp-numba-cache-{uid}"
        assert cache_line == f"cache {folder}" and any(folder.rglob("*.nbi"))  # the kernels cached there
        assert "RuntimeWarning" not in done.stderr
    else:
        assert cache_line == "cache " and "no writable folder for numba's cache" in done.stderr


def _nobody_can_run_python():
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("runuser"):
        return False
    probe = subprocess.run(["runuser", "-u", "nobody", "--", sys.executable, "-c", "import fastbp._version"],
                           capture_output=True, timeout=60, cwd="/")  # fmt: skip
    return probe.returncode == 0


@pytest.mark.skipif(
    not _nobody_can_run_python(), reason="needs root, runuser and a Python that nobody can run"
)
def test_as_an_unprivileged_user_without_a_home(tmp_path):
    env = ["env", "-i", f"PATH={pathlib.Path(sys.executable).parent}:/usr/bin", "HOME=/nonexistent"]
    for args in (["-m", "fastbp", "--help"], ["-m", "fastbp", "info"]):
        done = subprocess.run(["runuser", "-u", "nobody", "--", *env, sys.executable, *args],
                              capture_output=True, text=True, timeout=600, cwd="/")  # fmt: skip
        assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------ first run
def test_a_compile_says_so_once_and_its_time_is_measured(capsys):
    import numba

    from fastbp.compiling import CompileWatch

    @numba.njit  # not cached: compiles on its first call
    def add_one(x):
        return x + 1

    with CompileWatch("compiling now...", notice_after=0.0) as watch:
        assert add_one(1) == 2
    first = capsys.readouterr().out
    with CompileWatch("compiling now...", notice_after=0.0) as again:
        assert add_one(2) == 3  # compiled already
    assert first.count("compiling now...") == 1 and watch.seconds > 0
    assert capsys.readouterr().out == "" and again.seconds == 0.0


# ------------------------------------------------------------------ small data
def _small_noisy_regression(path):
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 8))
    y = X[:, 0] + 2.0 * rng.normal(size=120)  # mostly noise: a wide network overfits within epochs
    rows = [",".join(map(repr, [*r, t])) for r, t in zip(X.tolist(), y.tolist())]
    path.write_text("\n".join([",".join([f"x{i}" for i in range(8)] + ["y"]), *rows]) + "\n")


def test_training_stops_on_the_validation_rows_and_shows_a_linear_baseline(tmp_path):
    _small_noisy_regression(tmp_path / "d.csv")
    done = fastbp_command("train", "d.csv", "--target", "y", "--epochs", "300", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stop = [line for line in done.stdout.splitlines() if line.startswith("stopped after epoch")]
    assert len(stop) == 1 and "had not improved for 5 epochs" in stop[0]
    stopped_at = int(stop[0].split()[3].rstrip(":"))
    assert stopped_at < 300
    import fastbp

    assert fastbp.load(tmp_path / "d.fbp").epochs_trained == stopped_at
    assert any(
        line.startswith("linear baseline (no hidden layer") and "R^2" in line
        for line in done.stdout.splitlines()
    )
    every = fastbp_command(
        "train", "d.csv", "--target", "y", "--epochs", "40", "--patience", "0", "-q", cwd=tmp_path
    )
    assert "stopped after" not in every.stdout and fastbp.load(tmp_path / "d.fbp").epochs_trained == 40


# ------------------------------------------------------------------ tables
def _write(path, header, rows, delimiter=","):
    path.write_text("\n".join(delimiter.join(map(str, r)) for r in [header, *rows]) + "\n")


def _iris_like(n=90):
    import numpy as np

    rng = np.random.default_rng(3)
    X = np.round(rng.normal(size=(n, 3)), 4)
    kind = np.where(X[:, 0] > 0.3, "high", np.where(X[:, 1] > 0, "mid", "low"))
    return X, kind


@pytest.mark.parametrize(
    ("delimiter", "option"), [(";", []), ("\t", []), ("|", []), ("\t", ["--delimiter", "tab"])]
)
def test_semicolon_tab_and_pipe_files_are_read_as_tables(tmp_path, delimiter, option):
    X, kind = _iris_like()
    _write(
        tmp_path / "d.csv", ["a", "b", "c", "kind"], [[*r, k] for r, k in zip(X.tolist(), kind)], delimiter
    )
    done = fastbp_command("train", "d.csv", "--target", "kind", "--epochs", "2", "-q", *option, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "d.csv (90 rows, 3 columns, classification of 'kind')" in done.stdout
    predicted = fastbp_command("predict", "d.fbp", "d.csv", *option, cwd=tmp_path)
    assert predicted.returncode == 0 and len(predicted.stdout.splitlines()) == 91


def test_a_pandas_index_column_is_dropped_with_a_note(tmp_path):
    pd = pytest.importorskip("pandas")
    X, kind = _iris_like()
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "kind": kind}).to_csv(
        tmp_path / "d.csv"
    )  # index too
    done = fastbp_command("train", "d.csv", "--target", "kind", "--epochs", "2", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "dropped the unnamed first column of d.csv" in done.stdout and "3 columns" in done.stdout
    predicted = fastbp_command("predict", "d.fbp", "d.csv", cwd=tmp_path)
    assert predicted.returncode == 0 and "dropped the unnamed first column" in predicted.stderr


@pytest.mark.parametrize(
    ("cells", "summary"),
    [("1.5,,x0", "2 numeric columns; 18% missing cells imputed"),  # 4 of the 22 cells of 11 training rows
     ("1.5,NA,x0", "2 numeric columns; 18% missing cells imputed"),
     ("east,2.0,x0", "1 numeric, 1 text column (3 categories); no missing cells")],
)  # fmt: skip
def test_missing_cells_and_text_features_are_encoded_and_said(tmp_path, cells, summary):
    region, a, label = cells.split(",")
    rows = [["1.0", "3.0", "x1"], [region if region == "east" else "2.0", a, label], ["3.0", "1.0", "x0"]]
    _write(tmp_path / "d.csv", ["region", "a", "label"], rows * 4)
    done = fastbp_command("train", "d.csv", "--target", "label", "--epochs", "1", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"features: {summary}"


def test_a_call_that_cannot_compile_is_not_watched(capsys):
    import numba

    from fastbp.compiling import watch_if

    @numba.njit
    def add_two(x):
        return x + 2

    with watch_if(False, "compiling now...") as skipped:
        add_two(1)  # compiles, unwatched: a later epoch of a fit, which runs kernels already compiled
    assert skipped.seconds == 0.0 and capsys.readouterr().out == ""

    @numba.njit
    def add_three(x):
        return x + 3

    with watch_if(True, "compiling now...") as watched:
        add_three(1)
    assert watched.seconds > 0
