"""fastbp.search: the same cv_results_ and best parameters as scikit-learn's searches, locally and on Dask."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from scipy.stats import loguniform  # noqa: E402
from sklearn import model_selection as ms  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.exceptions import FitFailedWarning  # noqa: E402

import fastbp  # noqa: E402
from fastbp import (  # noqa: E402
    EnsembleClassifier,
    MLPClassifier,
    MLPRegressor,
    search,  # noqa: E402
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    keep = np.random.default_rng(0).random(len(X)) < 0.4  # 700 rows keep the suite quick
    return X[keep] / 16.0, y[keep]


def _same_results(ours, theirs):
    assert set(ours.cv_results_) == set(theirs.cv_results_)
    for key, value in theirs.cv_results_.items():
        if "time" in key:
            continue
        mine = ours.cv_results_[key]
        if key == "params":
            assert mine == value
        elif key.startswith("param_"):
            assert mine.dtype == value.dtype and list(mine) == list(value) and (mine.mask == value.mask).all()
        elif key.startswith("rank_"):
            assert mine.dtype == value.dtype and np.array_equal(mine, value)
        else:
            np.testing.assert_allclose(mine, value, rtol=0, atol=1e-9, err_msg=key)
    assert ours.best_params_ == theirs.best_params_ and ours.best_index_ == theirs.best_index_
    if hasattr(theirs, "best_score_"):
        assert ours.best_score_ == pytest.approx(theirs.best_score_, abs=1e-9)


GRID = {"hidden_layer_sizes": [(16,), (24, 8)], "alpha": [1e-4, 1e-1], "learning_rate_init": [1e-3, 1e-2]}


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_grid_search_equals_scikit_learns_over_the_same_estimator(digits, n_jobs):
    X, y = digits
    est = MLPClassifier(max_iter=8, random_state=0, dtype="float64")
    ours = search.GridSearchCV(est, GRID, cv=3, return_train_score=True, n_jobs=n_jobs).fit(X, y)
    theirs = ms.GridSearchCV(est, GRID, cv=3, return_train_score=True).fit(X, y)
    _same_results(ours, theirs)
    assert np.array_equal(ours.predict(X), theirs.predict(X))
    assert ours.score(X, y) == theirs.score(X, y) and list(ours.classes_) == list(theirs.classes_)
    assert ours.n_splits_ == 3 and ours.refit_time_ > 0


def test_randomized_search_draws_the_same_candidates_as_scikit_learn(digits):
    X, y = digits
    est = MLPClassifier(max_iter=6, random_state=1, dtype="float64")
    dists = {"alpha": loguniform(1e-5, 1e-1), "hidden_layer_sizes": [(8,), (16,), (8, 8)],
             "activation": ["relu", "tanh"], "norm": [None, "layer"]}  # fmt: skip
    cv = ms.KFold(3, shuffle=True, random_state=5)
    ours = search.RandomizedSearchCV(est, dists, n_iter=5, cv=cv, random_state=3).fit(X, y)
    theirs = ms.RandomizedSearchCV(est, dists, n_iter=5, cv=cv, random_state=3).fit(X, y)
    _same_results(ours, theirs)


def test_several_scorers_refit_by_name_and_regressors(digits):
    X, y = digits
    est = MLPRegressor(max_iter=6, random_state=0, dtype="float64", hidden_layer_sizes=(16,))
    scoring = ["r2", "neg_mean_absolute_error"]
    grid = {"alpha": [1e-4, 1.0], "batch_size": [32, 200]}
    kwargs = {"scoring": scoring, "refit": "neg_mean_absolute_error", "cv": 2, "return_train_score": True}
    ours = search.GridSearchCV(est, grid, **kwargs).fit(X, y * 1.0)
    theirs = ms.GridSearchCV(est, grid, **kwargs).fit(X, y * 1.0)
    _same_results(ours, theirs)
    assert ours.multimetric_ and "mean_test_r2" in ours.cv_results_


def test_sample_weights_reach_every_fit_and_ensembles_are_searched_too(digits):
    X, y = digits
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(y))
    est = EnsembleClassifier(
        n_members=2, max_iter=4, random_state=0, dtype="float64", hidden_layer_sizes=(8,)
    )
    grid = {"alpha": [1e-4, 1e-1]}
    ours = search.GridSearchCV(est, grid, cv=2).fit(X, y, sample_weight=w)
    theirs = ms.GridSearchCV(est, grid, cv=2).fit(X, y, sample_weight=w)
    _same_results(ours, theirs)


def test_failed_fits_score_error_score_or_raise_naming_the_fit(digits):
    X, y = digits
    X = X * 1e6
    est = MLPClassifier(max_iter=3, random_state=0, solver="sgd", dtype="float32")
    grid = {"learning_rate_init": [1e-3, 1e30]}
    with pytest.warns(FitFailedWarning, match="3 fits failed out of a total of 6"):
        ours = search.GridSearchCV(est, grid, cv=3).fit(X, y)
    assert np.isnan(ours.cv_results_["mean_test_score"][1]) and ours.best_index_ == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ms.GridSearchCV(est, grid, cv=3).fit(X, y)
    np.testing.assert_array_equal(ours.cv_results_["mean_test_score"], theirs.cv_results_["mean_test_score"])
    named = r"candidate 1 \{'learning_rate_init': 1e\+30\}, fold 0: training diverged"
    with pytest.raises(Exception, match=named):
        search.GridSearchCV(est, grid, cv=3, error_score="raise").fit(X, y)


def test_bad_parameters_score_error_score_or_are_refused_before_any_fit(digits):
    X, y = digits
    est, grid = MLPClassifier(max_iter=2, random_state=0), {"hidden_layer_sizes": [(4,), (0,)]}
    named = r"candidate 1 \{'hidden_layer_sizes': \(0,\)\}, fold 0: hidden_layer_sizes"
    with pytest.raises(ValueError, match=named):
        search.GridSearchCV(est, grid, cv=2, error_score="raise").fit(X, y)
    with pytest.warns(FitFailedWarning, match="2 fits failed out of a total of 4"):
        ours = search.GridSearchCV(est, grid, cv=2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ms.GridSearchCV(est, grid, cv=2).fit(X, y)
    _same_results(ours, theirs)
    assert np.isnan(ours.cv_results_["mean_test_score"][1])
    with pytest.raises(ValueError, match="Invalid parameter"):  # an unknown name is refused, as in sklearn
        search.GridSearchCV(est, {"widths": [3]}, cv=2).fit(X, y)
    with pytest.raises(TypeError, match="sample_weight as its only fit parameter"):
        search.GridSearchCV(est, {"alpha": [0.1]}, cv=2).fit(X, y, groups_=None)


def test_n_jobs_reads_as_in_scikit_learn_and_a_new_fit_forgets_the_last_best(digits):
    X, y = digits
    n = fastbp.get_num_threads()
    assert [search._threads_for(j) for j in (None, 1, -1, -2, -100)] == [n, 1, n, max(1, n - 1), 1]
    with pytest.raises(ValueError):
        search._threads_for(0)
    est = MLPClassifier(max_iter=2, random_state=0, hidden_layer_sizes=(8,))
    scoring = ["accuracy", "f1_macro"]
    grid = {"alpha": [1e-4, 1e-1]}
    found = search.GridSearchCV(est, grid, scoring=scoring, refit="accuracy", cv=2, n_jobs=-1)
    assert found.fit(X, y).best_index_ in (0, 1) and hasattr(found, "best_estimator_")
    found.set_params(refit=False).fit(X, y)
    for name in ("best_index_", "best_score_", "best_params_", "best_estimator_", "refit_time_"):
        assert not hasattr(found, name), name


def test_the_search_on_a_dask_cluster_equals_the_local_search(digits):
    pytest.importorskip("dask.distributed")
    from dask.distributed import Client, LocalCluster

    X, y = digits
    est = MLPClassifier(max_iter=5, random_state=0, dtype="float64")
    grid = {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1e-2]}
    local = search.GridSearchCV(est, grid, cv=3).fit(X, y)
    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, env=env)
    with cluster, Client(cluster) as client:
        distributed = search.GridSearchCV(est, grid, cv=3, client=client).fit(X, y)
        assert len(client.nthreads()) == 2
    _same_results(distributed, local)
    assert np.array_equal(distributed.predict(X), local.predict(X))
