"""fastbp.MLPClassifier against scikit-learn's MLPClassifier on the data sets inside scikit-learn.

Each data set is split 75/25 (stratified, one split per seed), scaled with
StandardScaler in a Pipeline, and fitted with default settings and
``random_state=seed`` by both, taking turns (with a pause before each fit).
Each fit is repeated ``--repeats`` times and the fastest counts, as in
``fastbp bench`` (the repeats give the same model, so accuracy is unchanged).
Prints mean test accuracy and mean fit time over the seeds.

    python bench/sklearn_datasets.py [--seeds 3] [--repeats 5] [--json out.json]
"""

import argparse
import json
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fastbp

DATASETS = {"digits": load_digits, "breast_cancer": load_breast_cancer, "wine": load_wine}


# BLAS threads busy-wait for a while after a call before they sleep; a pause
# before each fit keeps one framework's spinning threads off the other's timing
PAUSE_SECONDS = 0.5


def fit_and_score(estimator, X_train, X_test, y_train, y_test):
    pipe = make_pipeline(StandardScaler(), estimator)
    time.sleep(PAUSE_SECONDS)
    start = time.perf_counter()
    pipe.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    return pipe.score(X_test, y_test), seconds


def run(seeds, repeats=1):
    rows = []
    for name, load in DATASETS.items():
        X, y = load(return_X_y=True)
        scores = {"sklearn": [], "fastbp": []}
        times = {"sklearn": [], "fastbp": []}
        for seed in range(seeds):
            split = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
            best = {}
            for _ in range(repeats):
                for label, make in (("sklearn", SklearnMLP), ("fastbp", fastbp.MLPClassifier)):
                    accuracy, seconds = fit_and_score(make(random_state=seed), *split)
                    best[label] = (accuracy, min(seconds, best.get(label, (0, np.inf))[1]))
            for label, (accuracy, seconds) in best.items():
                scores[label].append(accuracy)
                times[label].append(seconds)
        rows.append(
            {
                "dataset": name,
                "rows": X.shape[0],
                "features": X.shape[1],
                "sklearn_accuracy": float(np.mean(scores["sklearn"])),
                "fastbp_accuracy": float(np.mean(scores["fastbp"])),
                "sklearn_fit_s": float(np.mean(times["sklearn"])),
                "fastbp_fit_s": float(np.mean(times["fastbp"])),
            }
        )
    return rows


def print_table(rows, seeds, repeats):
    print(f"mean of {seeds} seeds (fastest of {repeats} fits each), 25% stratified test split, "
          "StandardScaler + default MLPClassifier")  # fmt: skip
    header = ["data set", "rows x features", "sklearn accuracy", "fastbp accuracy",
              "sklearn fit", "fastbp fit", "speed-up"]  # fmt: skip
    print("| " + " | ".join(header) + " |")
    print("|---" * len(header) + "|")
    for r in rows:
        cells = [
            r["dataset"], f"{r['rows']} x {r['features']}", f"{r['sklearn_accuracy']:.4f}",
            f"{r['fastbp_accuracy']:.4f}", f"{r['sklearn_fit_s'] * 1e3:.0f} ms",
            f"{r['fastbp_fit_s'] * 1e3:.0f} ms", f"{r['sklearn_fit_s'] / r['fastbp_fit_s']:.1f}x",
        ]  # fmt: skip
        print("| " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5, help="fits per seed and library; fastest counts")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)  # both stop at max_iter on some seeds
    X, y = load_digits(return_X_y=True)
    fastbp.MLPClassifier(max_iter=2).fit(X, y)  # load the compiled kernels before timing
    rows = run(args.seeds, args.repeats)
    print_table(rows, args.seeds, args.repeats)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
