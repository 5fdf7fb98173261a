"""fastbp's MLPClassifier in a scikit-learn Pipeline with a grid search, on the breast cancer data set.

pip install "fastbp[sklearn]"
python examples/sklearn_pipeline.py
"""

import warnings

from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fastbp import MLPClassifier


def main(seed=0):
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=100, random_state=seed))
    grid = {
        "mlpclassifier__hidden_layer_sizes": [(16,), (64, 32)],
        "mlpclassifier__alpha": [1e-4, 1e-2],
        "mlpclassifier__dropout": [0.0, 0.2],
    }
    search = GridSearchCV(pipe, grid, cv=3).fit(X_train, y_train)
    accuracy = search.score(X_test, y_test)
    print(f"best parameters: {search.best_params_}")
    print(f"cross-validated accuracy {search.best_score_:.4f}; test accuracy {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
