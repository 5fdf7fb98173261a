"""Deep ensembles as scikit-learn estimators: ``EnsembleClassifier`` and ``EnsembleRegressor``.

An ensemble trains ``n_members`` networks with the parameters of fastbp's
``MLPClassifier``/``MLPRegressor``; the members differ in their random state
(initial weights, shuffling, dropout, early-stopping split) and, with
``bootstrap=True``, in their rows.  ``fit`` prepares every member first, so
bad input is refused before any training, and then trains them all at once
through ``fastbp.many.run_tasks``, the scheduler of ``fastbp.fit_many``: each
member is owned by one worker thread.  The classifier averages the members'
probabilities, the regressor their predictions.

Files: ``save(path)`` writes one ``.fbp`` file (the members' arrays, the
estimator's parameters and its labels in the JSON header, no pickle);
``fastbp.ensemble.load(path)`` reads it back.

This module needs scikit-learn (``pip install fastbp[sklearn]``).
"""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import io
from .estimators import FLOAT_DTYPES, MLPClassifier, MLPRegressor
from .many import raise_first_error, run_tasks
from .model import network_from
from .threads import check_threads, get_num_threads

FORMAT = "fastbp-ensemble-1"


class _BaseEnsemble(BaseEstimator):
    """What both ensembles share: members built from the estimator's own parameters, fit and files."""

    _member_class = None

    def _member_params(self):
        params = self.get_params(deep=False)
        del params["n_members"], params["bootstrap"]
        return params

    def _check_members(self):
        n = self.n_members
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n_members must be a positive integer, got {n!r}")
        if not isinstance(self.bootstrap, (bool, np.bool_)):
            raise ValueError(f"bootstrap must be True or False, got {self.bootstrap!r}")

    def fit(self, X, y, sample_weight=None):
        """Train every member on ``X`` (n, n_features) and ``y``; returns ``self``.

        Each member gets its own random state, drawn from ``random_state``;
        with ``bootstrap`` each trains on n rows drawn with replacement.
        """
        self._check_members()
        if self.n_threads is not None:
            check_threads(self.n_threads)
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=self._y_numeric, dtype=FLOAT_DTYPES)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        rng = check_random_state(self.random_state)
        previous = getattr(self, "members_", None)
        params = self._member_params()
        if self.warm_start and previous is not None and len(previous) == self.n_members:
            members = previous  # they train on from where they are, with the parameters set now
            for member in members:
                member.set_params(**{k: v for k, v in params.items() if k != "random_state"})
        else:
            seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_members)
            members = [self._member_class(**{**params, "random_state": int(s)}) for s in seeds]
        trainings = []
        for member in members:
            rows = rng.randint(0, X.shape[0], X.shape[0]) if self.bootstrap else slice(None)
            self._before_member_fit(member, y)
            w = None if sample_weight is None else sample_weight[rows]
            trainings.append(member._prepare_fit(X[rows], y[rows], w, incremental=False))
            self._after_member_fit(member)
        tasks = [t.task(k, self.max_iter) for k, t in enumerate(trainings)]
        run_tasks(tasks, get_num_threads() if self.n_threads is None else self.n_threads)
        raise_first_error(tasks, lambda k: f"member {k}")
        self.members_ = members
        self._set_fitted(members[0])
        return self

    def _before_member_fit(self, member, y):
        pass

    def _after_member_fit(self, member):
        pass

    def _set_fitted(self, member):
        self.n_outputs_ = member.n_outputs_
        self.n_iter_ = np.array([m.n_iter_ for m in self.members_])

    def _member_outputs(self, X):
        """The members' network outputs on ``X``, averaged: (n, n_outputs), float64."""
        check_is_fitted(self, "members_")
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        total = None
        for member in self.members_:
            out = member.net_.predict(X, n_threads=self.n_threads).astype(np.float64)
            total = out if total is None else total + out
        return total / len(self.members_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    # ------------------------------------------------------------------ files
    def save(self, path):
        """Write the fitted ensemble to ``path`` atomically, in one ``.fbp`` file (no pickle)."""
        check_is_fitted(self, "members_")
        nets = [m.net_ for m in self.members_]
        extra = {
            "ensemble": {
                "format": FORMAT,
                "class": type(self).__name__,
                "params": _json_params(self.get_params(deep=False)),
                "member_random_states": [m.random_state for m in self.members_],
                "n_iter": [int(m.n_iter_) for m in self.members_],
                "n_features_in": int(self.n_features_in_),
                "feature_names_in": None
                if getattr(self, "feature_names_in_", None) is None
                else [str(f) for f in self.feature_names_in_],
                **self._label_fields(),
            }
        }
        arrays = {"members.params": np.stack([n.params for n in nets])}
        if nets[0].running_stats.size:
            arrays["members.buffers"] = np.stack([n.running_stats for n in nets])
        io.write(path, nets[0], extra, arrays)

    def _label_fields(self):
        return {}


def _keep_parameters(est, values):
    """Store every argument of ``__init__`` as an attribute of the same name, as scikit-learn expects."""
    for name, value in values.items():
        if name not in ("self", "__class__"):
            setattr(est, name, value)


def _json_params(params):
    """The estimator's parameters as JSON values: tuples become lists, a class_weight dict a list of
    pairs; a random_state that is not an int or None is stored as None."""
    out = {}
    for name, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, dict):
            value = {"pairs": [[_json_scalar(k), v] for k, v in value.items()]}
        elif name == "random_state" and not (value is None or isinstance(value, numbers.Integral)):
            value = None
        out[name] = _json_scalar(value)
    return out


def _json_scalar(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def _params_from_json(stored):
    params = dict(stored)
    for name, value in params.items():
        if isinstance(value, dict) and "pairs" in value:
            params[name] = {k: v for k, v in value["pairs"]}
        elif name == "hidden_layer_sizes" and isinstance(value, list):
            params[name] = tuple(value)
    return params


class EnsembleClassifier(ClassifierMixin, _BaseEnsemble):
    """A deep ensemble of ``n_members`` fastbp ``MLPClassifier`` networks, trained in one call.

    Parameters
    ----------
    n_members : int, default 5
    bootstrap : bool, default False
        Train each member on n rows drawn with replacement (bagging); every
        member still knows every class of ``y``.
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init,
    power_t, max_iter, shuffle, random_state, tol, verbose, warm_start, momentum,
    nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon,
    n_iter_no_change, max_fun, dropout, norm, residual, class_weight, n_threads, dtype
        As in ``fastbp.MLPClassifier``, for every member.  ``random_state``
        draws the members' own random states.  ``n_threads`` is the number of
        worker threads.  ``warm_start`` continues training the members of
        the last fit.

    Attributes
    ----------
    members_ : list of fastbp.MLPClassifier
    classes_ : ndarray of shape (n_classes,)
    n_iter_ : ndarray of shape (n_members,)
        Each member's epochs.
    n_features_in_, feature_names_in_, n_outputs_
    """

    _member_class = MLPClassifier
    _y_numeric = False

    def __init__(
        self,
        n_members=5,
        *,
        bootstrap=False,
        hidden_layer_sizes=(100,),
        activation="relu",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        norm=None,
        residual=False,
        class_weight=None,
        n_threads=None,
        dtype=None,
    ):
        _keep_parameters(self, locals())

    def _before_member_fit(self, member, y):
        # a bootstrap sample may miss a class: every member learns the label set of all of y
        if np.ndim(y) == 1:
            member._partial_classes = np.unique(y)

    def _after_member_fit(self, member):
        member.__dict__.pop("_partial_classes", None)

    def _set_fitted(self, member):
        super()._set_fitted(member)
        self.classes_ = member.classes_

    def predict_proba(self, X):
        """The members' mean class probabilities, shape (n, n_classes) (n_labels for multi-label)."""
        out = self._member_outputs(X)
        if self.members_[0]._multiclass or self.members_[0]._multilabel:
            return out
        return np.hstack([1.0 - out, out])

    def predict_log_proba(self, X):
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """The class of highest mean probability (for multi-label: each label above 0.5)."""
        out = self._member_outputs(X)
        return self.members_[0]._labels(out)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _label_fields(self):
        classes = self.classes_
        if isinstance(classes, list):
            raise TypeError("saving a multi-label ensemble fitted on label lists is not supported")
        kind = classes.dtype.kind
        if kind not in "biufUO" or (kind == "O" and not all(isinstance(c, str) for c in classes)):
            raise TypeError(f"labels of type {classes.dtype} cannot be stored; use numbers or strings")
        return {
            "classes": [_json_scalar(c) for c in classes],
            "classes_kind": {"b": "bool", "i": "int64", "u": "int64", "f": "float64"}.get(kind, "str"),
            "multilabel": bool(self.members_[0]._multilabel),
        }


class EnsembleRegressor(RegressorMixin, _BaseEnsemble):
    """A deep ensemble of ``n_members`` fastbp ``MLPRegressor`` networks, trained in one call.

    Parameters and attributes are those of ``EnsembleClassifier`` without
    ``class_weight`` and ``classes_``, with scikit-learn's ``loss`` first;
    ``predict`` averages the members' predictions.
    """

    _member_class = MLPRegressor
    _y_numeric = True

    def __init__(
        self,
        n_members=5,
        *,
        bootstrap=False,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        norm=None,
        residual=False,
        n_threads=None,
        dtype=None,
    ):
        _keep_parameters(self, locals())

    def predict(self, X):
        """The members' mean prediction, float64: shape (n,) for one output, else (n, n_outputs)."""
        out = self._member_outputs(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


ENSEMBLES = {"EnsembleClassifier": EnsembleClassifier, "EnsembleRegressor": EnsembleRegressor}


def load(path):
    """Read an ensemble written by ``save``: an ``EnsembleClassifier`` or ``EnsembleRegressor``.

    The file is checked like any fastbp file (``fastbp.io.read``), and every
    member's network like ``fastbp.load`` checks one, before anything is built.

    Raises
    ------
    ModelFileError
        Not an ensemble file, or a damaged or inconsistent one.
    """
    stored = io.read(path)
    fields = stored.header.get("extra", {}).get("ensemble")
    try:
        if not isinstance(fields, dict) or fields.get("format") != FORMAT:
            raise TypeError("not an ensemble file")
        cls = ENSEMBLES[fields["class"]]
        params = _params_from_json(fields["params"])
        member_states = fields["member_random_states"]
        n_iter = fields["n_iter"]
        members_params = stored.arrays["members.params"]
        buffers = stored.arrays.get("members.buffers")
        n_members = members_params.shape[0]
        if members_params.ndim != 2 or len(member_states) != n_members or len(n_iter) != n_members:
            raise TypeError("the member arrays and lists disagree")
        if buffers is not None and (buffers.ndim != 2 or buffers.shape[0] != n_members):
            raise TypeError("the member buffers disagree with the members")
        ensemble = cls(**params)
    except (KeyError, TypeError, ValueError) as exc:
        raise io.ModelFileError(f"{path}: not a valid ensemble file ({exc})"[:500]) from None
    members = []
    for k in range(n_members):
        arrays = {"params": members_params[k]}
        if buffers is not None:
            arrays["buffers"] = buffers[k]
        net = network_from(io.ModelFile(stored.header, arrays), path)
        member = cls._member_class(**{**ensemble._member_params(), "random_state": member_states[k]})
        member.net_ = net
        member.n_iter_ = n_iter[k]
        member.n_features_in_ = fields["n_features_in"]
        member._set_weight_attributes()
        members.append(member)
    ensemble.members_ = members
    ensemble.n_features_in_ = fields["n_features_in"]
    if fields.get("feature_names_in") is not None:
        ensemble.feature_names_in_ = np.asarray(fields["feature_names_in"], dtype=object)
        for member in members:
            member.feature_names_in_ = ensemble.feature_names_in_
    if cls is EnsembleClassifier:
        _restore_labels(ensemble, members, fields, path)
    ensemble._set_fitted(members[0])
    return ensemble


def _restore_labels(ensemble, members, fields, path):
    from sklearn.preprocessing import LabelBinarizer

    try:
        kind = fields["classes_kind"]
        classes = np.asarray(fields["classes"], dtype={"str": str}.get(kind, kind))
        multilabel = bool(fields["multilabel"])
    except (KeyError, TypeError, ValueError) as exc:
        raise io.ModelFileError(f"{path}: the ensemble's labels are malformed ({exc})") from None
    for member in members:
        binarizer = LabelBinarizer()
        if multilabel:
            binarizer.fit(np.eye(len(classes), dtype=int))
        else:
            binarizer.fit(classes)
        member._binarizer, member.classes_ = binarizer, binarizer.classes_
        member._multilabel = multilabel
        member._multiclass = not multilabel and len(classes) > 2
