"""scikit-learn's MLPs in and out: the same predictions and probabilities to rounding, training goes
on in either library, and what scikit-learn cannot express is refused with the reason."""

import numpy as np
import pytest

import fastbp

neural_network = pytest.importorskip("sklearn.neural_network")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _classification(kind, rng):
    X = rng.normal(size=(160, 5))
    score = X[:, 0] - X[:, 1]
    if kind == "binary":
        return X, np.where(score > 0, "yes", "no")
    if kind == "multilabel":
        return X, np.stack([score > 0, X[:, 2] > 0], axis=1).astype(int)
    return X, np.digitize(score, [-1, 0, 1]) * 3


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
@pytest.mark.parametrize("activation", ["relu", "logistic", "tanh", "identity"])
def test_from_sklearn_classifier_predicts_as_scikit_learn_and_trains_on(kind, activation, rng):
    X, y = _classification(kind, rng)
    theirs = neural_network.MLPClassifier((9, 6), activation=activation, max_iter=30, random_state=0)
    theirs.fit(X, y)
    ours = fastbp.MLPClassifier.from_sklearn(theirs)
    assert ours.net_.dtype == np.float64 and list(ours.classes_) == list(theirs.classes_)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-10, atol=1e-12)
    assert np.array_equal(ours.predict(X), theirs.predict(X))
    assert ours.n_iter_ == theirs.n_iter_ and ours.loss_curve_ == theirs.loss_curve_
    before = ours.net_.params.copy()
    ours.partial_fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ + 1 and not np.array_equal(before, ours.net_.params)
    ours.set_params(warm_start=True, max_iter=2).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ + 3


@pytest.mark.parametrize("outputs", [1, 2])
def test_regressors_go_both_ways(outputs, rng):
    X = rng.normal(size=(150, 4))
    y = X @ rng.normal(size=(4, outputs))
    y = y[:, 0] if outputs == 1 else y
    theirs = neural_network.MLPRegressor(hidden_layer_sizes=(8,), activation="tanh", max_iter=40)
    theirs.set_params(random_state=1).fit(X, y)
    ours = fastbp.MLPRegressor.from_sklearn(theirs)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-10, atol=1e-12)
    back = ours.to_sklearn()
    assert type(back) is neural_network.MLPRegressor and back.activation == "tanh"
    np.testing.assert_allclose(back.predict(X), theirs.predict(X), rtol=1e-10, atol=1e-12)
    back.partial_fit(X, y)  # scikit-learn trains on from them: its sample count goes on
    assert back.t_ == theirs.t_ + len(X)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel"])
def test_to_sklearn_classifier_predicts_as_fastbp(kind, rng):
    X, y = _classification(kind, rng)
    ours = fastbp.MLPClassifier((7,), activation="logistic", max_iter=20, random_state=0, dtype="float32")
    ours.fit(X, y)
    theirs = ours.to_sklearn()
    assert theirs.activation == "logistic" and theirs.coefs_[0].dtype == np.float64
    np.testing.assert_allclose(theirs.predict_proba(X), ours.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert np.array_equal(theirs.predict(X), ours.predict(X))
    seen = theirs.t_
    theirs.set_params(warm_start=True, max_iter=3).fit(X, y)
    assert theirs.t_ == seen + 3 * len(X)  # trained on, not started again (that sets t_ to 0)


def test_what_scikit_learn_cannot_express_is_refused_with_the_reason(rng):
    X, y = _classification("multiclass", rng)
    with pytest.raises(ValueError, match="no norm layers or residual blocks"):
        fastbp.MLPClassifier((4,), norm="layer", max_iter=2).fit(X, y).to_sklearn()
    with pytest.raises(ValueError, match="one hidden activation of"):
        fastbp.MLPClassifier((4,), activation="gelu", max_iter=2).fit(X, y).to_sklearn()
    with pytest.raises(ValueError, match="one hidden activation of"):
        fastbp.MLPClassifier((4, 4), activation=["relu", "tanh"], max_iter=2).fit(X, y).to_sklearn()
    fitted = neural_network.MLPRegressor(hidden_layer_sizes=(3,), max_iter=2).fit(X, y)
    with pytest.raises(TypeError, match="takes a fitted scikit-learn MLPClassifier, not MLPRegressor"):
        fastbp.MLPClassifier.from_sklearn(fitted)
    poisson = neural_network.MLPRegressor(loss="poisson", hidden_layer_sizes=(3,), max_iter=2).fit(X, y + 1.0)
    with pytest.raises(ValueError, match="squared_error"):
        fastbp.MLPRegressor.from_sklearn(poisson)
