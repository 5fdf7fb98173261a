"""A deep ensemble of five networks that differ only in their seed, against one network alone.

Every member trains in one call (fastbp.fit_many's scheduler, one worker thread per
network); the ensemble averages the members' probabilities.

pip install "fastbp[sklearn]"
python examples/seed_ensemble.py
"""

import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from fastbp import EnsembleClassifier, MLPClassifier

PARAMS = {"hidden_layer_sizes": (64,), "max_iter": 30, "alpha": 1e-3}


def main(n_members=5, seed=0):
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.5, stratify=y,
                                                        random_state=seed)  # fmt: skip
    single = [MLPClassifier(random_state=seed + k, **PARAMS).fit(X_train, y_train) for k in range(n_members)]
    start = time.perf_counter()
    ensemble = EnsembleClassifier(n_members=n_members, random_state=seed, **PARAMS).fit(X_train, y_train)
    seconds = time.perf_counter() - start
    alone = [net.score(X_test, y_test) for net in single]
    together = ensemble.score(X_test, y_test)
    print(f"{len(y_train)} training digits, {len(y_test)} test digits, {n_members} members")
    mean = sum(alone) / n_members
    print(f"single networks: test accuracy {min(alone):.4f} to {max(alone):.4f}, mean {mean:.4f}")
    print(f"ensemble of {n_members}: test accuracy {together:.4f}, trained in {seconds:.2f} s")
    return {"single": alone, "ensemble": together}


if __name__ == "__main__":
    main()
