"""Mutation check: plant known bugs in a scratch copy of fastbp and see whether the tests catch them.

Run by hand (it is not part of the default test run: no file here is named
``test_*.py``), from the repository root with the virtual environment active::

    python tests/mutations/run.py                    # every mutation in catalog.py
    python tests/mutations/run.py --list             # the catalog; STALE where an edit no longer applies
    python tests/mutations/run.py --only checksum_skips_data adam_no_bias_correction_m
    python tests/mutations/run.py --only 'dropout_*' --keep   # fnmatch patterns; keep the scratch folder

What it does:

1. Copies ``fastbp/``, ``tests/``, ``examples/`` and ``pyproject.toml`` into a
   scratch folder (``tempfile``); the checkout itself is never changed, so it
   is safe while others work in it.
2. Checks that ``python -c "import fastbp"`` run there with
   ``PYTHONPATH=<scratch>`` imports the scratch copy, not the editable
   install of the checkout, and aborts if not.
3. Runs the union of the selected mutations' tests unmutated (the baseline)
   and aborts if it fails: otherwise every mutation would look caught.
4. For each mutation: applies its edits, runs
   ``python -m pytest -x -q -p no:cacheprovider <its tests>`` in the scratch
   folder, then restores the edited files exactly (bytes and mtime).
   Exit status 1 of pytest is *caught*, 0 is *SURVIVED*, anything else
   (a collection error, an import error, a crash, the ``--timeout``) is
   *error*, reported separately with the end of pytest's output.  A
   mutation whose old text does not occur exactly once is *STALE* and not
   run; one whose test paths are all missing is *no tests*.
5. Prints a table (name, files, result, first failing test, seconds) and
   exits 1 if any mutation survived, was stale, or ended in error or
   without tests (2 when it aborted, 0 when every mutation was caught).

Speed: the kernels are numba-compiled with ``cache=True`` and their cache is
stamped with a hash of ``fastbp/_jit.py`` and ``fastbp/kernels/`` (see
``fastbp/_jit.py``).  The baseline and the mutations of other files share
one ``NUMBA_CACHE_DIR`` inside the scratch folder, warmed by the baseline;
a mutation that touches ``fastbp/kernels/`` or ``fastbp/_jit.py`` recompiles
every kernel (30-60 s) into a fresh, empty cache folder of its own, so the
shared one stays valid.  Mutations of other files run first.
``PYTHONDONTWRITEBYTECODE=1`` keeps a mutated module's bytecode from being
reused after the restore.

What the catalog covers (``catalog.py``): dropout scaling (both kernels, and
each alone); the per-epoch shuffle key; predict's softmax (max shift,
normalisation); the losses (cross-entropy's max shift, row weights in
cross-entropy and in the regression losses, soft-target ysum, huber's
linear region, binary cross-entropy's sign); the optimizer kernels (Adam's
bias correction, AdamW's decay, Nesterov, centered RMSprop, Adagrad's decay)
and the Python side's hyperparameter packing; activation derivatives (tanh,
gelu, leaky_relu) and softplus's threshold; the chunked path's gradient
shares and its gather; the serial gather; L2 on biases; clip_norm; BLAS row
pieces and a feature-major product; file checksums; checkpoint resume
(epoch count, optimizer step count); early stopping's restore; evaluate and
History.loss with row weights; the NaN check of X; the cosine schedule;
scikit-learn's stopping rule.

Adding a mutation: append a ``Mutation`` to ``MUTATIONS`` in ``catalog.py``
with a new short name, a one-line description, one or more ``Edit(path,
old, new)`` (``old`` copied exactly from the file, long enough to occur
only once; several edits of one file apply in order) and the tests that
should catch it: test files or node ids, as narrow as will catch it,
since a kernel mutation recompiles everything for every test process.  A
test file that does not exist yet is skipped with a warning.  Check it with
``--list`` (STALE means the old text is not found exactly once), run it
alone with ``--only NAME``, and expect *caught*: a mutation that survives
shows a gap in the tests (or a mutation that does not change behaviour).
"""

import argparse
import fnmatch
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalog import MUTATIONS  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
COPIED = ("fastbp", "tests", "examples", "pyproject.toml")
KERNEL_SOURCES = ("fastbp/kernels/", "fastbp/_jit.py")
PYTEST = ("-m", "pytest", "-x", "-q", "-p", "no:cacheprovider")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc", ".pytest_cache", "mutations")
LOG_TAIL_LINES = 25


class Abort(Exception):
    """The check cannot give meaningful results (no scratch import, failing baseline, a failed restore)."""


@dataclass
class Result:
    name: str
    files: str
    result: str
    first_failure: str = ""
    seconds: float | None = None
    detail: str = ""


def touches_kernels(mutation):
    return any(edit.path.startswith(KERNEL_SOURCES) for edit in mutation.edits)


def edited_files(mutation):
    return list(dict.fromkeys(edit.path for edit in mutation.edits))


def mutated_texts(root, mutation):
    """``({path: (original bytes, mutated text)}, None)``, or ``(None, why it is stale)``."""
    texts = {}
    for number, edit in enumerate(mutation.edits, 1):
        if edit.path not in texts:
            path = root / edit.path
            if not path.is_file():
                return None, f"edit {number}: {edit.path} does not exist"
            original = path.read_bytes()
            texts[edit.path] = (original, original.decode("utf-8"))
        original, text = texts[edit.path]
        count = text.count(edit.old)
        if count != 1:
            return None, f"edit {number}: old text found {count} times in {edit.path}"
        if edit.old == edit.new:
            return None, f"edit {number}: new text equals old text"
        texts[edit.path] = (original, text.replace(edit.old, edit.new))
    return texts, None


def split_tests(root, tests):
    """The test arguments whose file exists under ``root``, and the missing files."""
    present, missing = [], []
    for spec in tests:
        file = spec.split("::", 1)[0]
        if (root / file).is_file():
            present.append(spec)
        elif file not in missing:
            missing.append(file)
    return present, missing


def union(test_lists):
    """The test arguments of several lists once each; a node id is dropped when its whole file is there."""
    specs = list(dict.fromkeys(spec for tests in test_lists for spec in tests))
    whole_files = {spec for spec in specs if "::" not in spec}
    return [spec for spec in specs if "::" not in spec or spec.split("::", 1)[0] not in whole_files]


def select(patterns):
    if not patterns:
        return list(MUTATIONS)
    chosen = []
    for pattern in patterns:
        matched = [m for m in MUTATIONS if fnmatch.fnmatchcase(m.name, pattern)]
        if not matched:
            names = ", ".join(m.name for m in MUTATIONS)
            raise SystemExit(f"--only {pattern!r} matches no mutation; the catalog has: {names}")
        chosen.extend(m for m in matched if m not in chosen)
    return chosen


def list_catalog(mutations):
    stale = 0
    for m in mutations:
        _, why = mutated_texts(REPO, m)
        stale += why is not None
        kind = "kernel" if touches_kernels(m) else "python"
        status = f"STALE: {why}" if why else "ok"
        print(f"{m.name}  [{kind}, {len(m.edits)} edit{'s' * (len(m.edits) > 1)}]  {status}")
        print(f"    {m.description}")
        print(f"    files: {', '.join(edited_files(m))}")
        _, missing = split_tests(REPO, m.tests)
        for spec in m.tests:
            note = "  (missing: skipped)" if spec.split("::", 1)[0] in missing else ""
            print(f"    test:  {spec}{note}")
    print(f"\n{len(mutations)} mutations, {stale} stale")
    return 1 if stale else 0


def environment(scratch, cache_dir):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(scratch), env.get("PYTHONPATH")]))
    env["NUMBA_CACHE_DIR"] = str(cache_dir)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def make_scratch(keep):
    scratch = Path(tempfile.mkdtemp(prefix="fastbp-mutations-")).resolve()
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, scratch / name, ignore=IGNORED)
        else:
            shutil.copy2(source, scratch / name)
    (scratch / "_logs").mkdir()
    print(f"scratch copy: {scratch}{'  (kept)' if keep else ''}", flush=True)
    return scratch


def check_import(scratch, env):
    command = [sys.executable, "-c", "import fastbp; print(fastbp.__file__)"]
    done = subprocess.run(command, cwd=scratch, env=env, capture_output=True, text=True, timeout=600)
    lines = done.stdout.strip().splitlines()
    expected = (scratch / "fastbp" / "__init__.py").resolve()
    if done.returncode != 0 or not lines or Path(lines[-1]).resolve() != expected:
        raise Abort(
            f"`import fastbp` with PYTHONPATH={scratch} does not import the scratch copy\n"
            f"  expected {expected}\n  got {lines[-1] if lines else None} (exit {done.returncode})\n"
            f"{done.stderr[-2000:]}"
        )
    print(f"import check: fastbp comes from {expected}", flush=True)


def first_failure(output):
    for line in output.splitlines():
        for prefix in ("FAILED ", "ERROR "):
            if line.startswith(prefix):
                return line[len(prefix) :].split(" - ", 1)[0].strip()
    return ""


def tail(text, lines=LOG_TAIL_LINES):
    return "\n".join("    | " + line for line in text.rstrip().splitlines()[-lines:])


def run_pytest(scratch, env, tests, log, timeout):
    """Run pytest on ``tests`` in ``scratch``; returns (exit status or None on timeout, seconds, output)."""
    start = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, *PYTEST, *tests],
            cwd=scratch,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so a timeout ends its workers too
        )
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill(process)
            status = None
        except BaseException:  # Ctrl-C: the tests run in their own session and would go on
            kill(process)
            raise
    return status, time.perf_counter() - start, Path(log).read_text(errors="replace")


def kill(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def apply(scratch, texts):
    """Write the mutated texts; return what ``restore`` needs (original bytes and times per file)."""
    saved = {}
    for rel, (original, text) in texts.items():
        path = scratch / rel
        stat = path.stat()
        saved[rel] = (original, stat.st_atime_ns, stat.st_mtime_ns)
        path.write_bytes(text.encode("utf-8"))
    return saved


def restore(scratch, saved):
    for rel, (original, atime, mtime) in saved.items():
        path = scratch / rel
        path.write_bytes(original)
        os.utime(path, ns=(atime, mtime))
        if path.read_bytes() != original or path.stat().st_mtime_ns != mtime:
            raise Abort(f"could not restore {rel} in the scratch copy")


def run_mutation(scratch, mutation, tests, shared_cache, args):
    files = ", ".join(edited_files(mutation))
    texts, why = mutated_texts(scratch, mutation)
    if why:
        return Result(mutation.name, files, "STALE", detail=why)
    if not tests:
        return Result(mutation.name, files, "no tests", detail="none of its test files exists")
    cache = shared_cache
    if touches_kernels(mutation):
        cache = scratch / "_numba_cache" / mutation.name
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir(parents=True)
    saved = apply(scratch, texts)
    try:
        log = scratch / "_logs" / f"{mutation.name}.log"
        status, seconds, output = run_pytest(scratch, environment(scratch, cache), tests, log, args.timeout)
    finally:
        restore(scratch, saved)
        if cache != shared_cache and not args.keep:
            shutil.rmtree(cache, ignore_errors=True)
    failed = first_failure(output)
    if status == 1:
        return Result(mutation.name, files, "caught", failed, seconds)
    if status == 0:
        return Result(mutation.name, files, "SURVIVED", "", seconds)
    why = f"timed out after {args.timeout} s" if status is None else f"pytest exit status {status}"
    return Result(mutation.name, files, "error", failed, seconds, f"{why}\n{tail(output)}")


def print_table(results):
    head = ("mutation", "files", "result", "first failing test", "seconds")
    rows = [
        (r.name, r.files, r.result, r.first_failure or "-", "-" if r.seconds is None else f"{r.seconds:.1f}")
        for r in results
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

    def line(cells):
        left = "  ".join(cell.ljust(w) for cell, w in zip(cells[:-1], widths))
        return f"{left}  {cells[-1].rjust(widths[-1])}"

    print()
    print(line(head))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))
    counts = {}
    for r in results:
        counts[r.result] = counts.get(r.result, 0) + 1
    print("\n" + ", ".join(f"{n} {name}" for name, n in counts.items()))
    for r in results:
        if r.detail:
            print(f"\n{r.name}: {r.result}: {r.detail}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", nargs="+", action="extend", metavar="NAME", help="mutation names (fnmatch)")
    parser.add_argument("--list", action="store_true", help="list the catalog and exit")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder, logs and caches")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per pytest run (default 1800)")
    args = parser.parse_args(argv)
    mutations = select(args.only)
    if args.list:
        return list_catalog(mutations)
    # python-side mutations first: they reuse the kernel cache warmed by the baseline
    mutations.sort(key=touches_kernels)

    scratch = make_scratch(args.keep)
    results = []
    try:
        shared_cache = scratch / "_numba_cache" / "shared"
        shared_cache.mkdir(parents=True)
        check_import(scratch, environment(scratch, shared_cache))
        tests_of, missing_files = {}, {}
        for m in mutations:
            present, missing = split_tests(scratch, m.tests)
            for file in missing:
                missing_files.setdefault(file, []).append(m.name)
            tests_of[m.name] = union([present])
        for file, names in missing_files.items():
            print(f"warning: {file} does not exist; skipped (named by {len(names)} mutations)", flush=True)
        runnable = [m for m in mutations if mutated_texts(scratch, m)[1] is None]
        baseline = union(tests_of[m.name] for m in runnable)
        if baseline:
            print(f"baseline (unmutated): {len(baseline)} test arguments ...", flush=True)
            env = environment(scratch, shared_cache)
            status, seconds, output = run_pytest(
                scratch, env, baseline, scratch / "_logs" / "baseline.log", None
            )
            if status != 0:
                raise Abort(f"the unmutated baseline failed (pytest exit {status}):\n{tail(output)}")
            print(f"baseline passed in {seconds:.1f} s", flush=True)
        for number, m in enumerate(mutations, 1):
            kind = "kernel" if touches_kernels(m) else "python"
            print(f"[{number}/{len(mutations)}] {m.name} ({kind}) ...", end=" ", flush=True)
            result = run_mutation(scratch, m, tests_of[m.name], shared_cache, args)
            results.append(result)
            took = "" if result.seconds is None else f" in {result.seconds:.1f} s"
            print(
                f"{result.result}{took}{'  ' + result.first_failure if result.first_failure else ''}",
                flush=True,
            )
    except Abort as exc:
        print(f"\nABORTED: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; the results so far:", file=sys.stderr)
        print_table(results)
        return 130
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print_table(results)
    bad = [r for r in results if r.result != "caught"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
