"""The scikit-learn estimators: scikit-learn's own checks, labels, pandas, pipelines, streaming, pickling."""

import itertools
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_breast_cancer, load_digits, load_wine  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.metrics import r2_score  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier as SklearnMLP  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastbp import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Expected failures, each xfail(strict=True): a check listed here that passes fails the run, so the
# list cannot go stale.  Measured with scikit-learn 1.9 and scipy-openblas 0.3.31, emulating other
# processors with OPENBLAS_CORETYPE (SkylakeX, Haswell, Zen, SandyBridge, Nehalem, Core2, Bulldozer).
#
# - float32 MLPClassifier, check_sample_weight_equivalence_on_dense_data: the weighted and the
#   repeated data sum their rows in a different order; the probabilities differ by 1-3 float32 ulps,
#   4-7 times the check's rtol of 1e-7, on every core type tried.  The default instance (float64 for
#   the checks' float64 data, as scikit-learn's MLP) passes every check, and
#   test_float32_sample_weight_equivalence_to_float32_rounding below checks the float32 one.
# - Not strict: float32 MLPRegressor, check_methods_subset_invariance.  It passed on every core type
#   tried (predictions of single rows differ from the whole batch's by at most 2 ulps, 56-89% of the
#   check's atol + rtol of 1e-7 each), but numba's own code generation (AVX2 or AVX-512) also moves
#   the rounding, so with that little margin it may fail elsewhere.
# - Not strict: float32 MLPRegressor, check_sample_weight_equivalence_on_dense_data.  Its difference
#   is 1-2 ulps, 0.95-2.0 times the tolerance depending on the BLAS kernel: it fails with SkylakeX,
#   Haswell, Zen and Nehalem kernels and passes with SandyBridge and Bulldozer ones, so its outcome
#   is rounding luck; a strict mark would fail on some processors.  The float32 test below covers it.
STRICT_EXPECTED_FAILURES = {
    ("MLPClassifier", "float32"): {
        "check_sample_weight_equivalence_on_dense_data": (
            "float32: weighted and repeated rows are summed in a different order; the probabilities "
            "differ by 1-3 ulps, above the check's rtol of 1e-7 (the float64 instance passes)"
        ),
    },
}
ROUNDING_LUCK = {
    ("MLPRegressor", "float32"): {
        "check_methods_subset_invariance": (
            "float32: predictions of a subset may differ from the whole batch's in the last bit or two, "
            "56-89% of the check's tolerance where measured"
        ),
        "check_sample_weight_equivalence_on_dense_data": (
            "float32: 1-2 ulps apart, 0.95-2.0 times the check's tolerance depending on the BLAS "
            "kernel (passes with OpenBLAS's SandyBridge kernels, fails with Haswell's and SkylakeX's)"
        ),
    },
}


def _expected_failures(estimator):
    return STRICT_EXPECTED_FAILURES.get((type(estimator).__name__, estimator.dtype), {})


@parametrize_with_checks(
    [
        MLPClassifier(max_iter=50),  # the defaults: the input's dtype, float64 for the checks' data
        MLPRegressor(max_iter=50),
        MLPClassifier(max_iter=50, dtype="float32"),
        MLPRegressor(max_iter=50, dtype="float32"),
    ],
    expected_failed_checks=_expected_failures,
    xfail_strict=True,
)
def test_scikit_learn_checks(estimator, check):
    luck = ROUNDING_LUCK.get((type(estimator).__name__, estimator.dtype), {})
    reason = luck.get(getattr(check, "func", check).__name__)
    if reason is None:
        check(estimator)
        return
    try:
        check(estimator)
    except AssertionError:
        pytest.xfail(reason)


def test_float32_sample_weight_equivalence_to_float32_rounding():
    """scikit-learn's sample-weight check, at a tolerance for float32: weights count repeated rows."""
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, size=15)
    sw = rng.randint(0, 5, size=15)
    for make, method in ((MLPClassifier, "predict_proba"), (MLPRegressor, "predict")):
        repeated = make(max_iter=50, random_state=0).fit(X.repeat(sw, axis=0), y.repeat(sw))
        weighted = make(max_iter=50, random_state=0).fit(X, y, sample_weight=sw)
        other = make(max_iter=50, random_state=0).fit(X, y)  # unweighted: far from both
        expected = getattr(repeated, method)(X)
        np.testing.assert_allclose(getattr(weighted, method)(X), expected, rtol=1e-5, atol=1e-6)
        assert np.abs(getattr(other, method)(X) - expected).max() > 1e-3


def _blobs(rng, n=300, labels=(0, 1, 2)):
    centers = rng.normal(scale=4, size=(len(labels), 5))
    index = rng.integers(0, len(labels), size=n)
    X = centers[index] + rng.normal(size=(n, 5))
    return X, np.asarray(labels)[index]


@pytest.mark.parametrize(
    "labels", [("cat", "dog", "emu"), (True, False), (-3, 7), ("only one kind", "another")], ids=repr
)
def test_labels_of_any_type_come_back_as_given(labels, rng):
    X, y = _blobs(rng, labels=labels)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, random_state=0).fit(X, y)
    predicted = clf.predict(X)
    assert predicted.dtype == y.dtype
    assert set(predicted) <= set(labels)
    assert np.mean(predicted == y) > 0.95
    np.testing.assert_array_equal(clf.classes_, np.unique(y))
    proba = clf.predict_proba(X)
    assert proba.shape == (len(y), len(labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], predicted)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))


def test_pandas_frames_and_series(rng):
    pd = pytest.importorskip("pandas")
    X, y = _blobs(rng, labels=("a", "b", "c"))
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=100, random_state=0)
    clf.fit(frame, pd.Series(y, name="kind"))
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    assert clf.n_features_in_ == 5
    with pytest.warns(UserWarning, match="feature names"):  # scikit-learn's warning for a bare array
        np.testing.assert_array_equal(clf.predict(frame), clf.predict(X))
    target = X[:, 0] * 2.0
    options = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=50, random_state=0)
    reg = MLPRegressor(**options).fit(frame, pd.Series(target))
    on_array = MLPRegressor(**options).fit(X, target)
    np.testing.assert_array_equal(reg.predict(frame), on_array.predict(X))  # the frame's values, in order
    assert r2_score(target, reg.predict(frame)) > 0.95
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[frame.columns[::-1]])


def test_multilabel_and_multioutput(rng):
    X = rng.normal(size=(400, 4))
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] > 0.5], axis=1).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0).fit(X, Y)
    assert clf.predict(X).shape == Y.shape
    assert clf.predict_proba(X).shape == Y.shape
    assert clf.out_activation_ == "logistic"
    assert clf.score(X, Y) > 0.8  # subset accuracy: all three labels right
    targets = np.stack([X[:, 0] - X[:, 1], X[:, 2] * 0.5], axis=1)
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=200, random_state=0).fit(X, targets)
    assert reg.predict(X).shape == targets.shape
    assert reg.score(X, targets) > 0.9
    assert reg.out_activation_ == "identity"


def test_fitted_attributes_match_scikit_learns(rng):
    X, y = _blobs(rng)
    ours = MLPClassifier(hidden_layer_sizes=(8, 6), max_iter=30, random_state=0).fit(X, y)
    theirs = SklearnMLP(hidden_layer_sizes=(8, 6), max_iter=30, random_state=0).fit(X, y)
    for name in ["n_layers_", "n_outputs_", "out_activation_", "n_iter_", "t_", "n_features_in_"]:
        assert getattr(ours, name) == getattr(theirs, name), name
    assert [c.shape for c in ours.coefs_] == [c.shape for c in theirs.coefs_]
    assert [b.shape for b in ours.intercepts_] == [b.shape for b in theirs.intercepts_]
    assert len(ours.loss_curve_) == ours.n_iter_


def _forward(coefs, intercepts, X, output):
    """scikit-learn's forward pass in plain NumPy: relu hidden layers, then the output function."""
    a = X
    for w, b in zip(coefs[:-1], intercepts[:-1]):
        a = np.maximum(a @ w + b, 0.0)
    z = a @ coefs[-1] + intercepts[-1]
    if output == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if output == "logistic":
        return 1.0 / (1.0 + np.exp(-z))
    return z


def _sklearn_loss(kind, coefs, intercepts, X, Y, alpha):
    """scikit-learn's MLP loss at these weights: its data loss plus 0.5 * alpha * sum(W**2) / n."""
    n = len(X)
    if kind == "multiclass":  # log-loss of the softmax
        data = -np.mean(np.log(_forward(coefs, intercepts, X, "softmax")[np.arange(n), Y]))
    elif kind == "multilabel":  # binary log-loss, summed over the labels
        P = _forward(coefs, intercepts, X, "logistic")
        data = -np.mean(Y * np.log(P) + (1 - Y) * np.log(1 - P), axis=0).sum()
    else:  # half the squared error, averaged over rows and outputs
        data = np.mean((Y - _forward(coefs, intercepts, X, "identity")) ** 2) / 2
    return data + 0.5 * alpha * sum((w**2).sum() for w in coefs) / n


@pytest.mark.parametrize("kind", ["multiclass", "multilabel", "regression"])
def test_loss_curve_is_scikit_learns_loss_at_the_weights_before_each_epoch(kind, rng):
    """One full batch per epoch: an epoch's loss is the loss at the weights before its one step."""
    X = rng.normal(size=(90, 4))
    make, Y, extra = {
        "multiclass": (MLPClassifier, rng.integers(0, 3, size=90), {"classes": [0, 1, 2]}),
        "multilabel": (
            MLPClassifier,
            (X[:, :3] + rng.normal(size=(90, 3)) > 0).astype(int),
            {"classes": [0, 1, 2]},
        ),
        "regression": (MLPRegressor, np.stack([X[:, 0] - X[:, 1], 0.5 * X[:, 2]], axis=1), {}),
    }[kind]
    options = dict(hidden_layer_sizes=(7, 5), alpha=0.3, batch_size=90, shuffle=False, random_state=0,
                   dtype="float64")  # fmt: skip
    est = make(learning_rate_init=0.01, **options)
    # the initial weights: the same random_state draws the same ones, and a step of 1e-300 leaves
    # every float64 weight as it was
    start = make(solver="sgd", momentum=0.0, learning_rate_init=1e-300, **options).partial_fit(X, Y, **extra)
    weights = [(start.coefs_, start.intercepts_)]
    for _ in range(6):
        est.partial_fit(X, Y, **extra)
        weights.append(([w.copy() for w in est.coefs_], [b.copy() for b in est.intercepts_]))
    assert not np.array_equal(weights[0][0][0], weights[-1][0][0])
    expected = [_sklearn_loss(kind, coefs, intercepts, X, Y, 0.3) for coefs, intercepts in weights[:-1]]
    np.testing.assert_allclose(est.loss_curve_, expected, rtol=1e-13)
    assert est.loss_ == pytest.approx(expected[-1], rel=1e-13)
    assert est.best_loss_ == pytest.approx(min(expected), rel=1e-13)
    assert start.loss_curve_[0] == pytest.approx(expected[0], rel=1e-13)


def test_pickle_round_trip_keeps_predictions(rng, tmp_path):
    joblib = pytest.importorskip("joblib")
    X, y = _blobs(rng)
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=20, random_state=0).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    joblib.dump(clf, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
    loaded.partial_fit(X, y)  # the optimizer state travels too
    assert loaded.n_iter_ == clf.n_iter_ + 1


def test_pipeline_grid_search_and_cross_validation(rng):
    X, y = _blobs(rng, n=240)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=30, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.9
    grid = {"mlpclassifier__hidden_layer_sizes": [(8,), (16,)], "mlpclassifier__alpha": [1e-4, 1e-2]}
    serial = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    parallel = GridSearchCV(pipe, grid, cv=2, n_jobs=2).fit(X, y)  # worker processes: pickled estimators
    assert serial.best_params_ == parallel.best_params_
    np.testing.assert_allclose(
        serial.cv_results_["mean_test_score"], parallel.cv_results_["mean_test_score"], rtol=1e-12
    )


def test_partial_fit_over_chunks_is_as_good_as_one_fit(rng):
    X, y = _blobs(rng, n=3000)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    whole = MLPClassifier(hidden_layer_sizes=(32,), max_iter=10, random_state=0).fit(X_train, y_train)
    streamed = MLPClassifier(hidden_layer_sizes=(32,), random_state=0)
    for _ in range(10):
        for start in range(0, len(X_train), 500):
            rows = slice(start, start + 500)
            streamed.partial_fit(X_train[rows], y_train[rows], classes=[0, 1, 2])
    assert streamed.score(X_test, y_test) >= whole.score(X_test, y_test) - 0.01
    assert streamed.n_iter_ == 10 * 5


def test_partial_fit_needs_classes_and_known_labels(rng):
    X, y = _blobs(rng)
    clf = MLPClassifier(hidden_layer_sizes=(4,))
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[y == 0], y[y == 0], classes=[0, 1, 2])  # a chunk may miss some classes
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    with pytest.raises(ValueError, match="not seen"):
        clf.partial_fit(X, np.where(y == 2, 9, y))
    regressor = MLPRegressor(hidden_layer_sizes=(4,), solver="lbfgs")
    with pytest.raises(AttributeError, match="partial_fit"):
        regressor.partial_fit(X, X[:, 0])


def test_class_weight_is_sample_weight_per_class(rng):
    X, y = _blobs(rng, n=200)
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    by_class = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0, class_weight=weights)
    by_row = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0)
    by_class.fit(X, y)
    by_row.fit(X, y, sample_weight=np.vectorize(weights.get)(y))
    np.testing.assert_array_equal(by_class.coefs_[0], by_row.coefs_[0])
    balanced = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, class_weight="balanced").fit(X, y)
    with pytest.raises(ValueError, match="balanced"):
        balanced.partial_fit(X, y)


def test_class_weight_moves_the_decision(rng):
    X = rng.normal(size=(600, 2))
    y = (X[:, 0] + 0.8 * rng.normal(size=600) > 1.0).astype(int)  # rare, noisy positives
    plain = MLPClassifier(hidden_layer_sizes=(8,), max_iter=100, random_state=0).fit(X, y)
    heavy = MLPClassifier(hidden_layer_sizes=(8,), max_iter=100, random_state=0, class_weight={0: 1, 1: 10})
    heavy.fit(X, y)
    assert heavy.predict(X).sum() > 1.5 * plain.predict(X).sum()


def test_validation_data_early_stopping_and_lbfgs(rng):
    X, y = _blobs(rng, n=400)
    X_val, y_val = _blobs(np.random.default_rng(1), n=100)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=15, random_state=0)
    clf.fit(X, y, validation_data=(X_val, y_val))
    assert len(clf.validation_loss_curve_) == clf.n_iter_ == 15
    stopper = MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, early_stopping=True, random_state=0)
    scores = stopper.fit(X, y).validation_scores_  # the rule in detail: test_early_stopping_follows_...
    epochs, best = _sklearn_early_stop(scores, stopper.tol, stopper.n_iter_no_change, 300)
    assert stopper.n_iter_ == epochs == len(scores) < 300
    assert stopper.best_validation_score_ == scores[best]
    lbfgs = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", dtype="float64", random_state=0).fit(X, y)
    assert lbfgs.score(X, y) > 0.95


def _assert_same_weights(a, b):
    for ours, theirs in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def _sklearn_early_stop(scores, tol, n_iter_no_change, max_iter):
    """(epochs run, best epoch) under scikit-learn's rule, from the validation scores alone.

    An epoch counts as no improvement when its score is below the best so far plus ``tol``; training
    stops after ``n_iter_no_change + 1`` such epochs in a row, else runs ``max_iter`` epochs.  The best
    epoch is the first with the highest score, whose weights are restored.
    """
    best, best_epoch, count = -np.inf, None, 0
    for epoch, score in enumerate(scores):
        count = count + 1 if score < best + tol else 0
        if score > best:
            best, best_epoch = score, epoch
        if count > n_iter_no_change:
            return epoch + 1, best_epoch
    return max_iter, best_epoch


def test_early_stopping_follows_scikit_learns_rule_and_restores_the_best_epoch(rng):
    X, y = _blobs(rng, n=400)
    options = dict(hidden_layer_sizes=(8,), learning_rate_init=0.003, early_stopping=True, random_state=0,
                   dtype="float64")  # fmt: skip
    stopper = MLPClassifier(max_iter=300, **options).fit(X, y)
    scores = stopper.validation_scores_
    epochs, best = _sklearn_early_stop(scores, stopper.tol, stopper.n_iter_no_change, 300)
    assert stopper.n_iter_ == epochs == len(scores) < 300
    assert 0 < best < epochs - stopper.n_iter_no_change  # it improved for a while, then stalled
    # accuracy on the 40 held-out rows (10% of 400): every score is a whole number of rows
    np.testing.assert_allclose(np.asarray(scores) * 40, np.round(np.asarray(scores) * 40), atol=1e-9)
    assert stopper.best_validation_score_ == scores[best]
    # the restored weights are those after the best epoch: a fit that ends there has them too
    ends_at_best = MLPClassifier(max_iter=best + 1, **options).fit(X, y)
    assert ends_at_best.validation_scores_ == scores[: best + 1]
    _assert_same_weights(stopper, ends_at_best)


def test_regressor_early_stopping_scores_are_r2_of_the_held_out_rows(rng):
    X = rng.normal(size=(40, 3))
    y = X[:, 0] - 2 * X[:, 1] + 0.5 * X[:, 2] ** 2
    options = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, early_stopping=True, n_iter_no_change=5,
                   random_state=0, dtype="float64")  # fmt: skip
    reg = MLPRegressor(max_iter=500, **options).fit(X, y)
    scores = reg.validation_scores_
    epochs, best = _sklearn_early_stop(scores, reg.tol, reg.n_iter_no_change, 500)
    assert reg.n_iter_ == epochs == len(scores) < 500
    # R^2: from worse than predicting the mean to near 1
    assert scores[0] < 0 and 0.8 < reg.best_validation_score_ == scores[best] <= 1
    # the held-out rows are 4 of the 40 (10%): find which 4 give the restored model's R^2 exactly
    predicted = reg.predict(X)
    subsets = np.array(list(itertools.combinations(range(40), 4)))
    Y, P = y[subsets], predicted[subsets]
    r2 = 1 - ((Y - P) ** 2).sum(axis=1) / ((Y - Y.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
    (found,) = np.flatnonzero(np.abs(r2 - reg.best_validation_score_) < 1e-12)  # one subset, no other
    assert r2_score(y[subsets[found]], predicted[subsets[found]]) == pytest.approx(reg.best_validation_score_)
    ends_at_best = MLPRegressor(max_iter=best + 1, **options).fit(X, y)
    np.testing.assert_array_equal(reg.predict(X), ends_at_best.predict(X))


def test_fastbp_extras_per_layer_activations_and_dropout(rng):
    X, y = _blobs(rng)
    clf = MLPClassifier(hidden_layer_sizes=(16, 8), activation=["gelu", "logistic"], dropout=[0.2, 0.0],
                        max_iter=60, random_state=0, n_threads=1).fit(X, y)  # fmt: skip
    assert clf.net_.activation == ["gelu", "sigmoid"]
    assert clf.score(X, y) > 0.95
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier(activation="swish").fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        MLPClassifier(solver="newton").fit(X, y)


def test_sgd_learning_rate_schedules(rng):
    X, y = _blobs(rng)
    invscaling = MLPClassifier(solver="sgd", learning_rate="invscaling", max_iter=3, random_state=0).fit(X, y)
    assert invscaling._optimizer.lr == pytest.approx(0.001 / (invscaling.t_ + 1) ** 0.5)
    adaptive = MLPClassifier(solver="sgd", learning_rate="adaptive", learning_rate_init=0.5, tol=10.0,
                             n_iter_no_change=1, max_iter=6, random_state=0).fit(X, y)  # fmt: skip
    assert adaptive._optimizer.lr < 0.5  # divided by 5 each time the loss stalled


@pytest.mark.parametrize("load", [load_digits, load_breast_cancer, load_wine], ids=lambda f: f.__name__)
def test_default_accuracy_reaches_scikit_learns(load):
    """Mean of 3 seeds on a 25% stratified split: within one test row of scikit-learn or above.

    The margin of one row allows for BLAS rounding that differs between processors; on the
    development machine fastbp is at or above scikit-learn on all three (see the README).
    """
    X, y = load(return_X_y=True)
    ours, theirs = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for seed in range(3):
            split = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
            X_train, X_test, y_train, y_test = split
            for scores, make in ((ours, MLPClassifier), (theirs, SklearnMLP)):
                pipe = make_pipeline(StandardScaler(), make(random_state=seed)).fit(X_train, y_train)
                scores.append(pipe.score(X_test, y_test))
    assert np.mean(ours) >= np.mean(theirs) - 1.0 / len(y_test)


def test_review_fixes_partial_fit_paths(rng):
    X = rng.normal(size=(120, 4))
    Y = (X[:, :3] > 0).astype(int)
    multilabel = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    multilabel.partial_fit(X, Y, classes=[0, 1, 2])  # scikit-learn accepts classes= with indicator targets
    np.testing.assert_array_equal(multilabel.classes_, [0, 1, 2])
    proba = multilabel.predict_proba(X)
    np.testing.assert_array_equal(multilabel.predict(X), (proba > 0.5).astype(int))
    assert 0 < (proba > 0.5).sum() < proba.size  # both answers occur
    y = rng.integers(0, 3, size=120)
    weighted = MLPClassifier(hidden_layer_sizes=(8,), class_weight={0: 3.0}, random_state=0)
    by_row = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    weighted.partial_fit(X, y, classes=[0, 1, 2])
    by_row.partial_fit(X, y, classes=[0, 1, 2], sample_weight=np.where(y == 0, 3.0, 1.0))
    _assert_same_weights(weighted, by_row)
    plain = MLPClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    assert not np.array_equal(plain.coefs_[0], weighted.coefs_[0])  # the weights did count
    weighted.partial_fit(X[y != 0], y[y != 0])  # a chunk without class 0: weights 1 for all its rows
    by_row.partial_fit(X[y != 0], y[y != 0], sample_weight=np.ones((y != 0).sum()))
    _assert_same_weights(weighted, by_row)
    lbfgs = MLPClassifier(solver="lbfgs")
    assert not hasattr(lbfgs, "partial_fit")
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


BAD_PARAMETERS = [
    ({"hidden_layer_sizes": 0}, "hidden_layer_sizes must be positive integers"),
    ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes must be positive integers"),
    ({"hidden_layer_sizes": True}, "hidden_layer_sizes must be positive integers"),
    ({"hidden_layer_sizes": (8, 2.5)}, "hidden_layer_sizes must be positive integers"),
    ({"hidden_layer_sizes": "8"}, "hidden_layer_sizes must be positive integers"),
    ({"solver": "newton"}, "solver must be one of"),
    ({"learning_rate": "fast"}, "learning_rate must be one of"),
    ({"max_iter": 0}, r"max_iter must be an integer >= 1, got 0"),
    ({"max_iter": 10.0}, r"max_iter must be an integer >= 1, got 10.0"),
    ({"max_iter": True}, r"max_iter must be an integer >= 1, got True"),
    ({"n_iter_no_change": 0}, r"n_iter_no_change must be an integer >= 1"),
    ({"max_fun": 0}, r"max_fun must be an integer >= 1"),
    ({"alpha": -1e-4}, "alpha must be a number >= 0"),
    ({"alpha": float("nan")}, "alpha must be a number >= 0"),
    ({"alpha": "0.1"}, "alpha must be a number >= 0"),
    ({"tol": -1.0}, "tol must be a number >= 0"),
    ({"momentum": -0.5}, "momentum must be a number >= 0"),
    ({"learning_rate_init": 0}, "learning_rate_init must be > 0"),
    ({"learning_rate_init": -0.1}, "learning_rate_init must be > 0"),
    ({"validation_fraction": 0}, r"validation_fraction must be in \(0, 1\)"),
    ({"validation_fraction": 1}, r"validation_fraction must be in \(0, 1\)"),
    ({"validation_fraction": None}, r"validation_fraction must be in \(0, 1\)"),
    ({"batch_size": 0}, "batch_size must be 'auto' or a positive integer"),
    ({"batch_size": 1.5}, "batch_size must be 'auto' or a positive integer"),
    ({"batch_size": True}, "batch_size must be 'auto' or a positive integer"),
    ({"batch_size": "all"}, "batch_size must be 'auto' or a positive integer"),
    # refused by the network, the optimizer or the thread pool, yet before fit changes anything
    ({"activation": "swish"}, "unknown activation 'swish'"),
    ({"activation": ["relu"]}, "activation has 1 entries for 2 hidden layers"),
    ({"dropout": 1.0}, r"dropout rates must lie in \[0, 1\)"),
    ({"dtype": "float16"}, "dtype must be 'float32' or 'float64'"),
    ({"beta_1": 1.0}, "betas"),
    ({"beta_2": "high"}, "betas"),
    ({"epsilon": -1e-8}, "eps must be >= 0"),
    ({"n_threads": 0}, "n_threads must be a positive integer"),
]


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor], ids=lambda c: c.__name__)
@pytest.mark.parametrize("params,message", BAD_PARAMETERS, ids=[repr(p)[1:-1] for p, _ in BAD_PARAMETERS])
def test_bad_parameters_are_refused_before_fit_changes_anything(make, params, message, rng):
    X, y = _blobs(rng, n=60)
    est = make(hidden_layer_sizes=(6, 4), max_iter=3, random_state=0).fit(X, y)
    # every fitted attribute, the network and the optimizer, as bytes (lists like loss_curve_ grow in place)
    fitted = {k: pickle.dumps(v) for k, v in vars(est).items() if k.endswith("_") or k == "_optimizer"}
    est.set_params(**params)
    with pytest.raises(ValueError, match=message):
        est.fit(X[:, :3], y + 1)  # other features and labels: refitting them would change the attributes
    if hasattr(est, "partial_fit"):  # only for the stochastic solvers
        with pytest.raises(ValueError, match=message):
            est.partial_fit(X, y)
    for name, before in fitted.items():
        assert pickle.dumps(getattr(est, name)) == before, name


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_refused_data_leaves_a_fitted_estimator_as_it_was(make, rng):
    """Data refused after X and y were accepted (bad validation_data) leaves every attribute as it was."""
    X, y = _blobs(rng, n=60)
    est = make(hidden_layer_sizes=(6,), max_iter=3, random_state=0).fit(X, y)
    state = {k: pickle.dumps(v) for k, v in vars(est).items()}
    bad = [
        (X[:, :3], y + 1, (X, y)),  # new features and labels, validation rows of the old width
        (X, y, (X[:, :3], y)),
        (X, y, (np.where(X > 1, np.nan, X), y)),
    ]
    for X_new, y_new, validation in bad:
        with pytest.raises(ValueError):
            est.fit(X_new, y_new, validation_data=validation)
    assert {k: pickle.dumps(v) for k, v in vars(est).items()} == state


def test_regressor_refuses_other_losses(rng):
    X = rng.normal(size=(30, 3))
    for loss in ("poisson", "absolute_error", None):
        with pytest.raises(ValueError, match=f"supports loss='squared_error' only, got {loss!r}"):
            MLPRegressor(loss=loss).fit(X, X[:, 0])


def test_partial_fit_with_other_classes_later_is_refused_and_changes_nothing(rng):
    X, y = _blobs(rng, n=90)
    clf = MLPClassifier(hidden_layer_sizes=(6,), random_state=0)
    clf.partial_fit(X, y, classes=[0, 1, 2])
    clf.partial_fit(X, y, classes=[2, 0, 1])  # the same set, in any order
    weights, state, n_iter = clf.net_.params.copy(), clf._optimizer.state.copy(), clf.n_iter_
    for classes in ([0, 1], [0, 1, 2, 3], ["a", "b", "c"]):
        with pytest.raises(ValueError, match="differ from the first call's"):
            clf.partial_fit(X, y, classes=classes)
    np.testing.assert_array_equal(clf.net_.params, weights)
    np.testing.assert_array_equal(clf._optimizer.state, state)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_iter_ == n_iter == 2 and len(clf.loss_curve_) == 2


def test_early_stopping_on_a_frame_scores_without_warnings(rng):
    pd = pytest.importorskip("pandas")
    X, y = _blobs(rng, n=200)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. "X does not have valid feature names"
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(hidden_layer_sizes=(8,), early_stopping=True, max_iter=5, random_state=0)
        clf.fit(frame, y)
    assert len(clf.validation_scores_) == clf.n_iter_


def test_multilabel_loss_is_scikit_learns_sum_over_labels(rng):
    X = rng.normal(size=(80, 4))
    Y = (X[:, :3] + 0.3 * rng.normal(size=(80, 3)) > 0).astype(int)
    clf = MLPClassifier(hidden_layer_sizes=(6,), solver="lbfgs", alpha=0.01, max_iter=30, dtype="float64",
                        random_state=0).fit(X, Y)  # fmt: skip
    P = np.clip(clf.predict_proba(X), 1e-15, 1 - 1e-15)
    data = -np.mean(Y * np.log(P) + (1 - Y) * np.log(1 - P), axis=0).sum()
    penalty = 0.5 * 0.01 * sum((w**2).sum() for w in clf.coefs_) / len(X)
    assert clf.loss_ == pytest.approx(data + penalty, rel=1e-6)


def test_regressor_takes_scikit_learns_loss_parameter_and_shapes(rng):
    X = rng.normal(size=(60, 3))
    y = X[:, :1] * 2.0  # (n, 1): predictions come back 1-D, as in scikit-learn
    reg = MLPRegressor(
        "squared_error", (8,), learning_rate_init=0.01, max_iter=300, random_state=0, dtype="float64"
    )
    reg.fit(X, y)
    predicted = reg.predict(X)
    assert predicted.shape == (60,)
    np.testing.assert_array_equal(predicted, reg.net_.predict(X)[:, 0])
    np.testing.assert_allclose(predicted, _forward(reg.coefs_, reg.intercepts_, X, "identity")[:, 0],
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    assert r2_score(y[:, 0], predicted) > 0.95
    assert reg.get_params()["loss"] == "squared_error"
    with pytest.raises(ValueError, match="squared_error"):
        MLPRegressor(loss="poisson").fit(X, y)


@pytest.mark.parametrize("make", [MLPClassifier, MLPRegressor])
def test_the_default_dtype_follows_the_input_as_scikit_learns_mlp(make, rng):
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    for given, expected in [
        (X.astype(np.float32), np.float32),
        (X, np.float64),
        ((X * 10).astype(int), np.float64),
    ]:
        est = make(hidden_layer_sizes=(4,), max_iter=2, random_state=0).fit(given, y)
        assert est.net_.dtype == expected and est.coefs_[0].dtype == expected
        assert est.predict(X).shape[0] == 40  # any input predicts, cast to the network's dtype
    est = make(hidden_layer_sizes=(4,), max_iter=2, dtype="float32").fit(X, y)
    assert est.net_.dtype == np.float32  # dtype= still decides
    first_call = {"classes": np.array([0, 1])} if make is MLPClassifier else {}
    est = make(hidden_layer_sizes=(4,), max_iter=2).partial_fit(X.astype(np.float32), y, **first_call)
    est.partial_fit(X, y)  # later chunks keep the first one's dtype
    assert est.net_.dtype == np.float32


def test_float16_input_trains_in_float64_by_default(rng):
    X = rng.normal(size=(30, 2)).astype(np.float16)
    est = MLPRegressor(hidden_layer_sizes=(3,), max_iter=2).fit(X, X[:, 0].astype(np.float64))
    assert est.net_.dtype == np.float64
