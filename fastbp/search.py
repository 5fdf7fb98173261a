"""Hyperparameter searches over fastbp's estimators: every candidate and fold in one call.

``GridSearchCV`` and ``RandomizedSearchCV`` take scikit-learn's arguments and
set its attributes (``cv_results_``, ``best_params_``, ``best_score_``,
``best_estimator_``, ``best_index_``, ``scorer_``, ``n_splits_``,
``refit_time_``), and they predict, score and transform through the best
estimator as scikit-learn's do (they subclass them).  What differs is how
they train: every candidate x fold is prepared first and then trained through
``fastbp.many.run_tasks``, ``fastbp.fit_many``'s scheduler, in this process:
each fit owned by one worker thread, with no process per fit and no data
copied to other processes.  Each fit is exactly ``clone(estimator)
.set_params(**candidate).fit(X[train], y[train])``, so the scores equal
scikit-learn's search over the same estimator and splits.

With ``client=`` (a ``dask.distributed.Client``) the fits are spread over the
cluster's workers in batches, each worker training its batch with its own
threads and sending back only the scores.

A fit whose parameters its estimator refuses (``hidden_layer_sizes=(0,)``)
scores ``error_score`` with a ``FitFailedWarning``, as in scikit-learn; with
``error_score="raise"`` it is raised before any training, naming the
candidate and fold.

Parameters that change the architecture (``hidden_layer_sizes``,
``activation``, ``norm`` ...) are allowed.  ``n_jobs`` is the number of
worker threads (fastbp's default when None; -1 for all, -2 for all but one,
as in scikit-learn); ``pre_dispatch`` is accepted for compatibility and not
used.

Memory: the training rows of every candidate x fold are copied when the fits
are prepared, so a search holds about candidates x folds copies of ``X`` at
once; for a large ``X`` search over fewer candidates per call.

This module needs scikit-learn (``pip install fastbp[sklearn]``).
"""

import functools
import numbers
import time
import warnings
from collections import defaultdict

import numpy as np
from numpy.ma import MaskedArray
from scipy.stats import rankdata
from sklearn import model_selection
from sklearn.base import clone, is_classifier
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import check_scoring
from sklearn.model_selection import ParameterGrid, ParameterSampler, check_cv
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import indexable

from .estimators import _BaseMLP
from .many import Task, raise_first_error, run_tasks
from .threads import check_threads, get_num_threads


def _fit_and_score_all(estimator, X, y, jobs, fit_params, scoring, n_threads, refuse_as=None):
    """Train every ``(index, candidate parameters, train rows, test rows)`` of ``jobs`` through
    ``run_tasks`` and score it; returns ``{index: result dict}`` (scores, times, the error if any).
    ``scoring`` is ``(scorers, return_train_score, score_weights)``; ``score_weights`` (n,), when not
    None, weight the scores of each fold's rows.  A fit whose parameters or data its estimator
    refuses fails like a fit that raises, unless ``refuse_as`` is given (``error_score="raise"``):
    then it is raised before any training, prefixed with ``refuse_as(index)``."""
    scorers, return_train_score, score_weights = scoring
    tasks, fitted = [], {}
    for index, params, train, test in jobs:
        est = clone(estimator).set_params(**clone(params, safe=False))  # unknown names raise, as in sklearn
        X_train, y_train = _safe_indexing(X, train), _safe_indexing(y, train)
        weights = {k: _safe_indexing(v, train) for k, v in fit_params.items()}
        if isinstance(est, _BaseMLP):  # one network: placed by the scheduler
            try:
                training = est._prepare_fit(X_train, y_train, weights.get("sample_weight"), incremental=False)
            except (ValueError, TypeError) as exc:
                if refuse_as is not None:
                    raise type(exc)(f"{refuse_as(index)}: {exc}") from exc
                tasks.append(Task(index, functools.partial(_reraise, exc), False, 0.0))
            else:
                tasks.append(training.task(index, est.max_iter))
        else:  # an ensemble runs its own members on the threads
            tasks.append(
                Task(index, lambda e=est, a=X_train, b=y_train, w=weights: e.fit(a, b, **w), True, 0.0)
            )
        fitted[index] = (est, train, test)
    run_tasks(tasks, n_threads)
    results = {}
    for task in tasks:
        est, train, test = fitted[task.index]
        result = {"fit_time": task.seconds, "error": task.error}
        if task.error is None:
            start = time.perf_counter()
            result["test_scores"] = _score(scorers, est, X, y, test, score_weights)
            result["score_time"] = time.perf_counter() - start
            if return_train_score:
                result["train_scores"] = _score(scorers, est, X, y, train, score_weights)
        results[task.index] = result
    return results


def _reraise(exc):
    raise exc


def _threads_for(n_jobs):
    """``n_jobs`` as scikit-learn reads it: None is fastbp's default thread count, -1 every thread,
    -2 all but one, and so on."""
    if n_jobs is None:
        return get_num_threads()
    if isinstance(n_jobs, numbers.Integral) and not isinstance(n_jobs, bool) and n_jobs < 0:
        return max(1, get_num_threads() + 1 + int(n_jobs))
    return check_threads(n_jobs)


def _score(scorers, est, X, y, rows, weights):
    kwargs = {} if weights is None else {"sample_weight": _safe_indexing(weights, rows)}
    scores = scorers(est, _safe_indexing(X, rows), _safe_indexing(y, rows), **kwargs)
    return {k: float(v) for k, v in scores.items()} if isinstance(scores, dict) else float(scores)


def _masked_params(candidates):
    """``param_<name>`` arrays of ``cv_results_``: masked where a candidate lacks the parameter, with
    scikit-learn's dtype rule (numbers keep a numeric dtype, anything else is object)."""
    by_name = defaultdict(dict)
    for i, params in enumerate(candidates):
        for name, value in params.items():
            by_name[f"param_{name}"][i] = value
    out = {}
    for key, values in by_name.items():
        try:
            arr = np.array(list(values.values()))
        except ValueError:
            dtype = np.dtype(object)
        else:
            dtype = arr.dtype if arr.dtype.kind != "U" and arr.ndim == 1 else np.dtype(object)
        masked = MaskedArray(np.empty(len(candidates), dtype=dtype), mask=True)
        for i, value in values.items():
            masked[i] = value
        out[key] = masked
    return out


class _FastbpSearch:
    """``fit`` for both searches: candidates x folds through ``run_tasks`` (or a Dask cluster)."""

    def _candidates(self):
        raise NotImplementedError

    def fit(self, X, y=None, *, groups=None, **fit_params):
        """Train every candidate on every fold, score them, and refit the best on all of ``X``.

        Parameters
        ----------
        X : array-like of shape (n, n_features)
        y : array-like of shape (n,) or (n, n_outputs)
        groups : array-like of shape (n,), optional
            Group labels for group-aware splitters.
        **fit_params
            ``sample_weight`` (n,): each fit gets the weights of its rows.

        Returns
        -------
        self
        """
        unknown = set(fit_params) - {"sample_weight"}
        if unknown:
            raise TypeError(f"fit takes sample_weight as its only fit parameter, not {sorted(unknown)}")
        fit_params = {k: v for k, v in fit_params.items() if v is not None}
        for stale in ("best_index_", "best_score_", "best_params_", "best_estimator_", "refit_time_"):
            self.__dict__.pop(stale, None)  # a refit of this search must not keep the last fit's best
        threads = _threads_for(self.n_jobs)
        X, y, groups = indexable(X, y, groups)
        estimator = self.estimator
        self.multimetric_ = not (
            self.scoring is None or isinstance(self.scoring, str) or callable(self.scoring)
        )
        scorers = check_scoring(estimator, self.scoring)
        refit_metric = self._refit_metric()
        cv = check_cv(self.cv, y, classifier=is_classifier(estimator))
        splits = list(cv.split(X, y, groups))
        self.n_splits_ = len(splits)
        candidates = list(self._candidates())
        if not candidates:
            raise ValueError("no candidate parameters to search")
        jobs = [(i * len(splits) + s, params, train, test)
                for i, params in enumerate(candidates) for s, (train, test) in enumerate(splits)]  # fmt: skip
        score_weights = fit_params.get("sample_weight") if self._scorers_take_weights() else None
        scoring = (scorers, self.return_train_score, score_weights)

        def name(index):
            candidate, fold = divmod(index, len(splits))
            return f"candidate {candidate} {candidates[candidate]}, fold {fold}"

        if self.client is None:
            refuse_as = name if self.error_score == "raise" else None
            results = _fit_and_score_all(estimator, X, y, jobs, fit_params, scoring, threads, refuse_as)
        else:
            results = _on_cluster(self.client, estimator, X, y, jobs, fit_params, scoring)
        out = self._check_failures([results[i] for i in range(len(jobs))], jobs, name)
        self.cv_results_ = self._format(candidates, len(splits), out)
        self.scorer_ = scorers
        self._choose_best(refit_metric)
        if self.refit:
            best = clone(estimator).set_params(**clone(self.best_params_, safe=False))
            start = time.perf_counter()
            best.fit(X, y, **fit_params)
            self.refit_time_ = time.perf_counter() - start
            self.best_estimator_ = best
            if hasattr(best, "feature_names_in_"):
                self.feature_names_in_ = best.feature_names_in_
        return self

    def _scorers_take_weights(self):
        """Whether the installed scikit-learn passes fit's ``sample_weight`` to the scorers (1.9 does,
        where they accept it, warning where they do not); the scores must match its searches."""
        if not hasattr(self, "_check_scorers_accept_sample_weight"):
            return False
        return self._check_scorers_accept_sample_weight()

    def _refit_metric(self):
        if not self.multimetric_:
            return "score"
        if callable(self.refit) or self.refit is False:
            return None
        if not isinstance(self.refit, str):
            raise ValueError(
                "with several scorers, refit must be the name of one of them, a callable or False"
            )
        return self.refit

    def _check_failures(self, out, jobs, name):
        failed = [(job, r) for job, r in zip(jobs, out) if r["error"] is not None]
        if failed and self.error_score == "raise":
            raise_first_error([Task(job[0], None, False, 0.0, error=r["error"]) for job, r in failed], name)
        if len(failed) == len(out):
            raise ValueError(f"all {len(out)} fits failed; the first error: {failed[0][1]['error']!r}")
        if failed:
            if not isinstance(self.error_score, numbers.Number):
                raise ValueError("error_score must be 'raise' or a number")
            warnings.warn(f"{len(failed)} fits failed out of a total of {len(out)}; their score is "
                          f"error_score={self.error_score}: {failed[0][1]['error']!r}", FitFailedWarning,
                          stacklevel=3)  # fmt: skip
            names = next(r["test_scores"] for r in out if r["error"] is None)
            for _, r in failed:
                r["score_time"] = 0.0
                fill = {k: self.error_score for k in names} if isinstance(names, dict) else self.error_score
                r["test_scores"] = fill
                if self.return_train_score:
                    r["train_scores"] = fill
        return out

    def _format(self, candidates, n_splits, out):
        """``cv_results_``, in scikit-learn's layout."""
        n = len(candidates)
        results = {}

        def store(key, values, splits=False, rank=False):
            array = np.array(values, dtype=np.float64).reshape(n, n_splits)
            if splits:
                for s in range(n_splits):
                    results[f"split{s}_{key}"] = array[:, s]
            means = array.mean(axis=1)
            results[f"mean_{key}"] = means
            results[f"std_{key}"] = np.sqrt(((array - means[:, None]) ** 2).mean(axis=1))
            if rank:
                if np.isnan(means).all():
                    results[f"rank_{key}"] = np.ones(n, dtype=np.int32)
                else:
                    filled = np.nan_to_num(means, nan=np.nanmin(means) - 1)
                    results[f"rank_{key}"] = rankdata(-filled, method="min").astype(np.int32)

        store("fit_time", [r["fit_time"] for r in out])
        store("score_time", [r["score_time"] for r in out])
        results.update(_masked_params(candidates))
        results["params"] = candidates
        kinds = ["test"] + (["train"] if self.return_train_score else [])
        for kind in kinds:
            scores = [r[f"{kind}_scores"] for r in out]
            names = list(scores[0]) if isinstance(scores[0], dict) else [None]
            for name in names:
                values = [s[name] for s in scores] if name is not None else scores
                store(f"{kind}_{name or 'score'}", values, splits=True, rank=kind == "test")
        return results

    def _choose_best(self, refit_metric):
        if callable(self.refit):
            index = self.refit(self.cv_results_)
            if not isinstance(index, numbers.Integral) or not 0 <= index < len(self.cv_results_["params"]):
                raise IndexError("best_index_ returned by refit is not an index of a candidate")
            self.best_index_ = int(index)
        elif refit_metric is not None:
            self.best_index_ = int(self.cv_results_[f"rank_test_{refit_metric}"].argmin())
            self.best_score_ = float(self.cv_results_[f"mean_test_{refit_metric}"][self.best_index_])
        if hasattr(self, "best_index_"):
            self.best_params_ = self.cv_results_["params"][self.best_index_]


def _on_cluster(client, estimator, X, y, jobs, fit_params, scoring):
    """The fits of ``jobs`` on a Dask cluster: one batch per worker, the jobs dealt round-robin (each
    worker's ``run_tasks`` then orders its batch, costliest first)."""
    workers = client.nthreads()  # {address: threads}
    if not workers:
        raise ValueError("the Dask client has no workers")
    batches = {address: [] for address in workers}
    for k, job in enumerate(jobs):
        batches[list(workers)[k % len(workers)]].append(job)
    [data] = client.scatter([(X, y, fit_params)], broadcast=True)
    futures = [
        client.submit(_worker_batch, estimator, data, batch, scoring, workers[address],
                      workers=[address], allow_other_workers=False, pure=False)
        for address, batch in batches.items() if batch
    ]  # fmt: skip
    results = {}
    for part in client.gather(futures):
        results.update(part)
    return results


def _worker_batch(estimator, data, batch, scoring, threads):
    """Run on a Dask worker: ``_fit_and_score_all`` of its batch with the worker's threads.  Only the
    scores, the times and the errors (as RuntimeErrors that name them) go back."""
    X, y, fit_params = data
    threads = max(1, min(threads, get_num_threads()))  # the worker's own limits (NUMBA_NUM_THREADS) hold
    results = _fit_and_score_all(estimator, X, y, batch, fit_params, scoring, threads)
    for result in results.values():
        error = result["error"]
        if error is not None:  # not every exception unpickles (TrainingDiverged takes other arguments)
            result["error"] = RuntimeError(f"{type(error).__name__}: {error}")
    return results


class GridSearchCV(_FastbpSearch, model_selection.GridSearchCV):
    """scikit-learn's ``GridSearchCV`` for fastbp estimators, every fit through fastbp's scheduler.

    Parameters
    ----------
    estimator : fastbp.MLPClassifier, MLPRegressor, EnsembleClassifier or EnsembleRegressor
    param_grid, scoring, refit, cv, verbose, error_score, return_train_score
        As in ``sklearn.model_selection.GridSearchCV``.
    n_jobs : int, optional
        Worker threads (fastbp's default thread count when None, -1 for all).
    pre_dispatch
        Accepted for compatibility; not used.
    client : dask.distributed.Client, optional
        Spread the fits over this cluster's workers.
    """

    def __init__(self, estimator, param_grid, *, scoring=None, n_jobs=None, refit=True, cv=None,
                 verbose=0, pre_dispatch="2*n_jobs", error_score=np.nan, return_train_score=False,
                 client=None):  # fmt: skip
        super().__init__(estimator, param_grid, scoring=scoring, n_jobs=n_jobs, refit=refit, cv=cv,
                         verbose=verbose, pre_dispatch=pre_dispatch, error_score=error_score,
                         return_train_score=return_train_score)  # fmt: skip
        self.client = client

    def _candidates(self):
        return ParameterGrid(self.param_grid)


class RandomizedSearchCV(_FastbpSearch, model_selection.RandomizedSearchCV):
    """scikit-learn's ``RandomizedSearchCV`` for fastbp estimators, every fit through fastbp's scheduler.

    Parameters are those of ``GridSearchCV`` with ``param_distributions``,
    ``n_iter`` and ``random_state`` (as in scikit-learn) in place of ``param_grid``.
    """

    def __init__(self, estimator, param_distributions, *, n_iter=10, scoring=None, n_jobs=None, refit=True,
                 cv=None, verbose=0, pre_dispatch="2*n_jobs", random_state=None, error_score=np.nan,
                 return_train_score=False, client=None):  # fmt: skip
        super().__init__(estimator, param_distributions, n_iter=n_iter, scoring=scoring, n_jobs=n_jobs,
                         refit=refit, cv=cv, verbose=verbose, pre_dispatch=pre_dispatch,
                         random_state=random_state, error_score=error_score,
                         return_train_score=return_train_score)  # fmt: skip
        self.client = client

    def _candidates(self):
        return ParameterSampler(self.param_distributions, self.n_iter, random_state=self.random_state)
