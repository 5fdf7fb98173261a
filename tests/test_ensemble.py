"""Deep ensembles: scikit-learn's checks, members as their own fits, averaging, files."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import fastbp  # noqa: E402
from fastbp import EnsembleClassifier, EnsembleRegressor, MLPClassifier, MLPRegressor  # noqa: E402
from fastbp import ensemble as ensembles  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# float32 members sum weighted and repeated rows in a different order (see test_estimators.py); the
# ensembles with the default dtype (float64 for the checks' float64 data) pass every check
EXPECTED = {
    ("EnsembleClassifier", "float32", False): {
        "check_sample_weight_equivalence_on_dense_data": "float32 rounding, as MLPClassifier's",
    },
    # a bootstrap draws n rows from the rows it is given, so repeating rows changes every draw
    ("EnsembleClassifier", None, True): {
        "check_sample_weight_equivalence_on_dense_data": "bootstrap samples of repeated rows differ",
    },
}
LUCK = {
    ("EnsembleRegressor", "float32"): {
        "check_sample_weight_equivalence_on_dense_data", "check_methods_subset_invariance",
    },
}  # fmt: skip


@parametrize_with_checks(
    [
        EnsembleClassifier(n_members=2, max_iter=50),  # the defaults: float64 for the checks' data
        EnsembleRegressor(n_members=2, max_iter=50),
        EnsembleClassifier(n_members=2, max_iter=50, dtype="float32"),
        EnsembleClassifier(n_members=2, max_iter=50, bootstrap=True),
        EnsembleRegressor(n_members=2, max_iter=50, dtype="float32"),
    ],
    expected_failed_checks=lambda est: EXPECTED.get((type(est).__name__, est.dtype, est.bootstrap), {}),
    xfail_strict=True,
)
def test_scikit_learn_checks(estimator, check):
    name = getattr(check, "func", check).__name__
    if name not in LUCK.get((type(estimator).__name__, estimator.dtype), set()):
        check(estimator)
        return
    try:
        check(estimator)
    except AssertionError:
        pytest.xfail("float32 rounding, as MLPRegressor's")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_members_are_the_estimators_their_random_states_give(digits):
    X, y = digits
    ens = EnsembleClassifier(
        n_members=3, hidden_layer_sizes=(32,), max_iter=5, random_state=4, dtype="float64"
    )
    ens.fit(X, y)
    states = np.random.RandomState(4).randint(np.iinfo(np.int32).max, size=3)
    assert [m.random_state for m in ens.members_] == [int(s) for s in states]
    for member, state in zip(ens.members_, states):
        alone = MLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=int(state), dtype="float64")
        alone.fit(X, y)
        assert np.array_equal(member.net_.params, alone.net_.params)
        assert member.loss_curve_ == alone.loss_curve_
    mean = np.mean([m.predict_proba(X) for m in ens.members_], axis=0)
    np.testing.assert_allclose(ens.predict_proba(X), mean, rtol=1e-12)
    assert np.array_equal(ens.predict(X), ens.classes_[mean.argmax(axis=1)])


def test_warm_start_trains_the_members_on_with_the_parameters_set_now(digits):
    X, y = digits
    kwargs = {"hidden_layer_sizes": (16,), "random_state": 2, "dtype": "float64"}
    ens = EnsembleClassifier(n_members=2, max_iter=3, **kwargs).fit(X, y)
    ens.set_params(warm_start=True, max_iter=2, learning_rate_init=0.01).fit(X, y)
    for member in ens.members_:
        alone = MLPClassifier(max_iter=3, **{**kwargs, "random_state": member.random_state}).fit(X, y)
        alone.set_params(warm_start=True, max_iter=2, learning_rate_init=0.01).fit(X, y)
        assert member.learning_rate_init == 0.01
        assert np.array_equal(member.net_.params, alone.net_.params)


def test_results_do_not_depend_on_the_thread_count(digits):
    X, y = digits
    fits = [EnsembleRegressor(n_members=3, hidden_layer_sizes=(16,), max_iter=4, random_state=0, n_threads=t,
                              bootstrap=True).fit(X, y) for t in (1, 2)]  # fmt: skip
    for a, b in zip(fits[0].members_, fits[1].members_):
        assert np.array_equal(a.net_.params, b.net_.params)


def test_the_regressor_averages_its_members(digits):
    X, y = digits
    ens = EnsembleRegressor(n_members=3, hidden_layer_sizes=(16,), max_iter=5, random_state=1).fit(X, y * 1.0)
    mean = np.mean([m.predict(X) for m in ens.members_], axis=0)
    np.testing.assert_allclose(ens.predict(X), mean, rtol=1e-12)


def test_bootstrap_members_train_on_their_own_rows_and_know_every_class():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4))
    y = np.array(["a"] * 37 + ["rare"] * 3)  # a bootstrap sample often misses "rare"
    ens = EnsembleClassifier(n_members=6, bootstrap=True, hidden_layer_sizes=(8,), max_iter=3, random_state=0)
    ens.fit(X, y)
    assert all(list(m.classes_) == ["a", "rare"] for m in ens.members_)
    assert ens.predict_proba(X).shape == (40, 2)
    params = [m.net_.params for m in ens.members_]
    plain = EnsembleClassifier(n_members=6, hidden_layer_sizes=(8,), max_iter=3, random_state=0).fit(X, y)
    assert not np.array_equal(params[0], plain.members_[0].net_.params)


def test_bad_input_is_refused_before_any_member_trains(digits):
    X, y = digits
    with pytest.raises(ValueError, match="n_members must be a positive integer"):
        EnsembleClassifier(n_members=0).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must be positive integers"):
        EnsembleClassifier(hidden_layer_sizes=(0,)).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        EnsembleClassifier(max_iter=2).fit(X, y + 0.5)


@pytest.mark.parametrize("make", [lambda: EnsembleClassifier, lambda: EnsembleRegressor])
@pytest.mark.parametrize("norm", [None, "batch"])
def test_files_round_trip_without_pickle(tmp_path, digits, make, norm):
    X, y = digits
    labels = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y]
    cls = make()
    target = labels if cls is EnsembleClassifier else y * 0.5
    ens = cls(n_members=3, hidden_layer_sizes=(16, 16), max_iter=3, random_state=0, norm=norm)
    ens.fit(X, target)
    path = tmp_path / "ensemble.fbp"
    ens.save(path)
    back = ensembles.load(path)
    assert type(back) is cls and back.get_params() == ens.get_params()
    assert np.array_equal(back.predict(X), ens.predict(X))
    if cls is EnsembleClassifier:
        assert np.array_equal(back.predict_proba(X), ens.predict_proba(X))
        assert back.predict(X[:2]).dtype == labels.dtype
    assert [m.random_state for m in back.members_] == [m.random_state for m in ens.members_]


def test_a_network_file_is_not_an_ensemble(tmp_path):
    path = tmp_path / "net.fbp"
    fastbp.MLP([3, 4, 2]).save(path)
    with pytest.raises(fastbp.ModelFileError, match="not a valid ensemble file"):
        ensembles.load(path)


def test_an_ensemble_is_at_least_as_accurate_as_one_member():
    """Deep ensembles on scikit-learn's data sets: the mean of five members against each member alone."""
    for loader in (load_digits, load_breast_cancer):
        X, y = loader(return_X_y=True)
        X = (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-9)
        rng = np.random.default_rng(0)
        test = rng.random(len(X)) < 0.3
        ens = EnsembleClassifier(n_members=5, hidden_layer_sizes=(64,), max_iter=40, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ens.fit(X[~test], y[~test])
        member_scores = [m.score(X[test], y[test]) for m in ens.members_]
        assert ens.score(X[test], y[test]) >= np.mean(member_scores)
    X, y = load_diabetes(return_X_y=True)
    reg = EnsembleRegressor(n_members=3, hidden_layer_sizes=(32,), max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(X, y)
    assert np.isfinite(reg.predict(X)).all()


def test_clone_keeps_every_parameter():
    ens = EnsembleClassifier(n_members=4, bootstrap=True, alpha=0.1, dropout=0.2, class_weight={0: 2.0})
    assert clone(ens).get_params() == ens.get_params()
    assert set(MLPRegressor().get_params()) < set(EnsembleRegressor().get_params())
