"""A grid search whose 8 candidates x 3 folds all train in one process, one network per thread.

fastbp.search.GridSearchCV takes scikit-learn's arguments and sets its attributes;
its scores equal those of scikit-learn's GridSearchCV over the same estimator.

pip install "fastbp[sklearn]"
python examples/grid_search.py
"""

import time
import warnings

import numpy as np
from sklearn import model_selection
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from fastbp import MLPClassifier, search

GRID = {"hidden_layer_sizes": [(32,), (64,)], "alpha": [1e-4, 1e-2], "learning_rate_init": [1e-3, 1e-2]}


def main(seed=0):
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    estimator = MLPClassifier(max_iter=30, random_state=seed, dtype="float64")
    start = time.perf_counter()
    ours = search.GridSearchCV(estimator, GRID, cv=3).fit(X, y)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    theirs = model_selection.GridSearchCV(estimator, GRID, cv=3, n_jobs=2).fit(X, y)
    theirs_seconds = time.perf_counter() - start
    gap = np.abs(ours.cv_results_["mean_test_score"] - theirs.cv_results_["mean_test_score"]).max()
    print(f"best parameters: {ours.best_params_}")
    print(f"best cross-validated accuracy {ours.best_score_:.4f}")
    print(f"fastbp.search.GridSearchCV {ours_seconds:.2f} s; "
          f"sklearn GridSearchCV(n_jobs=2) over the same estimator {theirs_seconds:.2f} s")  # fmt: skip
    print(f"largest difference in mean_test_score {gap:.1e}; same best parameters: "
          f"{ours.best_params_ == theirs.best_params_}")  # fmt: skip
    return ours, theirs


if __name__ == "__main__":
    main()
