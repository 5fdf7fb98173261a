"""Many networks at once: the grid search of issue 14 and deep ensembles on scikit-learn's data sets.

Grid search: 8 candidates (hidden width, alpha, learning_rate_init) x 3 folds of
an MLPClassifier on digits, max_iter=30, timed three ways in one run: each after a
warm-up (compiled kernels loaded, worker processes started), then each as the
first call of a new process (numba's cache warm):
fastbp.search.GridSearchCV over fastbp's MLPClassifier, scikit-learn's
GridSearchCV(n_jobs=2) over the same estimator, and scikit-learn's
GridSearchCV(n_jobs=2) over scikit-learn's MLPClassifier.

Ensembles: test accuracy of EnsembleClassifier(n_members=5) against the mean of
five single MLPClassifiers (seeds of their own), on digits, breast_cancer and
wine (75/25 stratified splits, StandardScaler, defaults otherwise), over seeds.

    python bench/many_models.py [--repeats 3] [--seeds 3]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn import model_selection
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.preprocessing import StandardScaler

import fastbp
from fastbp import search

GRID = {"hidden_layer_sizes": [(32,), (64,)], "alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 1e-2]}
DATASETS = {"digits": load_digits, "breast_cancer": load_breast_cancer, "wine": load_wine}


def _fastest(run, repeats):
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


FIRST_CALL = """
import time, warnings
t0 = time.perf_counter()
from sklearn import model_selection
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SklearnMLP
import fastbp
from fastbp import search
warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X = X / 16.0
GRID = {grid!r}
ours, theirs = fastbp.MLPClassifier(max_iter=30, random_state=0), SklearnMLP(max_iter=30, random_state=0)
make = {{"ours": lambda: search.GridSearchCV(ours, GRID, cv=3),
        "sklearn": lambda: model_selection.GridSearchCV(ours, GRID, cv=3, n_jobs=2),
        "sklearn_mlp": lambda: model_selection.GridSearchCV(theirs, GRID, cv=3, n_jobs=2)}}[{which!r}]
start = time.perf_counter()
make().fit(X, y)
print(time.perf_counter() - start)
"""


def first_calls():
    """Each search's first call in a new process (numba's cache warm): scikit-learn's starts its worker
    processes, which import fastbp and load its kernels; fastbp.search loads them in this process."""
    import subprocess
    import sys

    print("\nfirst call in a new process (numba's cache warm, after the imports):")
    times = {}
    for which, name in [("ours", "fastbp.search"), ("sklearn", "sklearn GridSearchCV(n_jobs=2), fastbp MLP"),
                        ("sklearn_mlp", "sklearn GridSearchCV(n_jobs=2), sklearn MLP")]:  # fmt: skip
        code = FIRST_CALL.format(grid=GRID, which=which)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        times[which] = float(out.split()[-1])
        print(f"  {name:45s} {times[which]:6.2f} s")
    for which in ("sklearn", "sklearn_mlp"):
        print(f"  fastbp.search is {times[which] / times['ours']:.1f}x faster than {which}")


def grid_search(repeats):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    ours_est = fastbp.MLPClassifier(max_iter=30, random_state=0)
    theirs_est = SklearnMLP(max_iter=30, random_state=0)
    runs = {
        "fastbp.search.GridSearchCV, fastbp MLPClassifier": lambda: search.GridSearchCV(ours_est, GRID, cv=3),
        "sklearn GridSearchCV(n_jobs=2), fastbp MLPClassifier":
            lambda: model_selection.GridSearchCV(ours_est, GRID, cv=3, n_jobs=2),
        "sklearn GridSearchCV(n_jobs=2), sklearn MLPClassifier":
            lambda: model_selection.GridSearchCV(theirs_est, GRID, cv=3, n_jobs=2),
    }  # fmt: skip
    times = {}
    for name, make in runs.items():
        make().fit(X, y)  # warm-up: compiled kernels, worker processes
        seconds, fitted = _fastest(lambda make=make: make().fit(X, y), repeats)
        times[name] = seconds
        print(f"{name:55s} {seconds:7.2f} s  best score {fitted.best_score_:.4f}  {fitted.best_params_}")
    first = next(iter(times.values()))
    for name, seconds in list(times.items())[1:]:
        print(f"  fastbp.search is {seconds / first:.1f}x faster than {name}")


def ensembles(seeds):
    print(f"\ntest accuracy, mean over {seeds} seeds: five single networks (mean) vs their ensemble")
    for name, load in DATASETS.items():
        X, y = load(return_X_y=True)
        single, together = [], []
        for seed in range(seeds):
            X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=seed)
            scaler = StandardScaler().fit(X_train)
            X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
            members = range(5 * seed, 5 * seed + 5)
            single += [fastbp.MLPClassifier(random_state=s).fit(X_train, y_train).score(X_test, y_test)
                       for s in members]  # fmt: skip
            ensemble = fastbp.EnsembleClassifier(n_members=5, random_state=5 * seed).fit(X_train, y_train)
            together.append(ensemble.score(X_test, y_test))
        print(f"{name:14s} single {np.mean(single):.4f}  ensemble of 5 {np.mean(together):.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    print(f"fastbp {fastbp.__version__}, {fastbp.get_num_threads()} threads")
    grid_search(args.repeats)
    first_calls()
    ensembles(args.seeds)


if __name__ == "__main__":
    main()
