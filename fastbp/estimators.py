"""scikit-learn estimators: ``MLPClassifier`` and ``MLPRegressor`` on fastbp's engine.

They take scikit-learn's ``MLPClassifier``/``MLPRegressor`` constructor
parameters with the same names, defaults and meaning, and set the same fitted
attributes, so they drop into pipelines, grid searches and code written for
scikit-learn.  Beyond scikit-learn they accept per-layer activation lists and
every fastbp activation, ``dropout``, ``class_weight``, ``sample_weight`` in
``fit`` and ``partial_fit``, ``validation_data=`` with a recorded validation
loss curve, ``n_threads`` and ``dtype`` (by default the input's: float32 input trains in
float32, anything else in float64, as scikit-learn's MLP computes).

Each epoch runs in compiled code (``MLP.fit``); scikit-learn's stopping rules
(``tol``, ``n_iter_no_change``, ``early_stopping``) and its "invscaling" and
"adaptive" learning rates run between epochs, in a callback.

This module needs scikit-learn (``pip install fastbp[sklearn]``).
"""

import copy
import numbers
import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .model import MLP
from .optimizers import SGD, Adam
from .threads import check_threads

SKLEARN_ACTIVATIONS = {"logistic": "sigmoid"}  # scikit-learn's names that fastbp spells differently
SOLVERS = ("adam", "sgd", "lbfgs")
LEARNING_RATES = ("constant", "invscaling", "adaptive")
FLOAT_DTYPES = (np.float64, np.float32)  # kept as given; anything else becomes float64


def _stochastic_solver(est):
    """``partial_fit`` exists only for the stochastic solvers, as in scikit-learn."""
    if est.solver not in ("sgd", "adam"):
        raise AttributeError(
            f"partial_fit is only available for stochastic optimizers; {est.solver!r} is not"
        )
    return True


def _fastbp_activation(name):
    return SKLEARN_ACTIVATIONS.get(name, name)


class _BaseMLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, training loop, attributes."""

    _y_numeric = False

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.norm = norm
        self.residual = residual
        self.n_threads = n_threads
        self.dtype = dtype

    # ------------------------------------------------------------- to override
    def _encode_targets(self, y, first):
        """``(targets for MLP.fit, n_outputs)``; ``first`` learns the label set."""
        raise NotImplementedError

    def _output(self):
        """(loss, output activation) of the network."""
        raise NotImplementedError

    def _row_weights(self, y, sample_weight, incremental):
        return sample_weight

    def _validation_score(self, X, y, sample_weight):
        """Accuracy or R^2 of checked data (no feature-name checks once per epoch)."""
        raise NotImplementedError

    # ------------------------------------------------------------- checks
    def _check_params(self):
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if isinstance(hidden, numbers.Integral) else list(hidden)
        if any(isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be positive integers, got {self.hidden_layer_sizes!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.solver == "lbfgs" and self.norm == "batch":
            # L-BFGS minimises the full-batch loss and never runs the epochs that keep BatchNorm's
            # running statistics, which predict uses: refuse rather than predict with mean 0, variance 1
            raise ValueError(
                "solver='lbfgs' does not train norm='batch' (its running statistics); use adam or sgd"
            )
        if self.learning_rate not in LEARNING_RATES:
            raise ValueError(f"learning_rate must be one of {LEARNING_RATES}, got {self.learning_rate!r}")
        checks = [
            ("max_iter", self.max_iter, 1), ("n_iter_no_change", self.n_iter_no_change, 1),
            ("max_fun", self.max_fun, 1),
        ]  # fmt: skip
        for name, value, low in checks:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        for name, value in [("alpha", self.alpha), ("tol", self.tol), ("momentum", self.momentum)]:
            if not isinstance(value, numbers.Real) or not value >= 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        if not isinstance(self.learning_rate_init, numbers.Real) or not self.learning_rate_init > 0:
            raise ValueError(f"learning_rate_init must be > 0, got {self.learning_rate_init!r}")
        fraction = self.validation_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1), got {fraction!r}")
        if self.batch_size != "auto" and (
            isinstance(self.batch_size, bool) or not isinstance(self.batch_size, numbers.Integral)
            or self.batch_size < 1
        ):  # fmt: skip
            raise ValueError(f"batch_size must be 'auto' or a positive integer, got {self.batch_size!r}")
        # what the network, the optimizer and the thread pool would refuse, refused here, before
        # fit changes any fitted attribute: a one-unit stand-in network checks the activations,
        # dropout rates and dtype
        if self.n_threads is not None:
            check_threads(self.n_threads)
        MLP([2] * (len(hidden) + 2), activation=self._fastbp_activations(), dtype=self.dtype or "float64",
            dropout=self.dropout, norm=self.norm, residual=self.residual)  # fmt: skip
        if self.solver != "lbfgs":
            try:
                self._new_optimizer(loss_scale=1)
            except TypeError as exc:  # a hyperparameter that is not a number
                raise ValueError(str(exc)) from None
        return hidden

    # ------------------------------------------------------------- fitting
    def _fastbp_activations(self):
        activation = self.activation
        if isinstance(activation, (list, tuple)):
            return [_fastbp_activation(a) for a in activation]
        return _fastbp_activation(activation)

    def _new_network(self, n_features, n_outputs, hidden, rng, input_dtype=np.float64):
        loss, output = self._output()
        if self.dtype is not None:
            dtype = self.dtype
        else:  # the input's: float32 stays float32, anything else (float16 too) trains in float64
            dtype = "float32" if np.dtype(input_dtype) == np.float32 else "float64"
        net = MLP(
            [n_features, *hidden, n_outputs],
            activation=self._fastbp_activations(),
            loss=loss,
            output=output,
            dtype=dtype,
            seed=int(rng.randint(np.iinfo(np.int32).max)),
            alpha=self.alpha / (n_outputs if getattr(self, "_multilabel", False) else 1),  # see _loss_scale
            dropout=self.dropout,
            norm=self.norm,
            residual=self.residual,
        )
        # scikit-learn's initialisation, so random_state means what it means there:
        # weights and biases uniform in +-sqrt(6 / (fan_in + fan_out)), 2 instead of 6
        # for logistic (of the first hidden activation when they differ per layer)
        first = net.activation[0] if net.activation else "relu"
        factor = 2.0 if first == "sigmoid" else 6.0
        for w, b in zip(net.coefs_, net.intercepts_):
            bound = np.sqrt(factor / sum(w.shape))
            w[:] = rng.uniform(-bound, bound, w.shape)
            b[:] = rng.uniform(-bound, bound, b.shape)
        return net

    @property
    def _loss_scale(self):
        """scikit-learn's loss over fastbp's: for multi-label it sums over labels, fastbp averages."""
        return self.net_.sizes[-1] if getattr(self, "_multilabel", False) else 1

    def _new_optimizer(self, loss_scale=None):
        # scaling the learning rate by _loss_scale makes SGD's steps those of scikit-learn's loss
        # (Adam's steps do not depend on the loss's scale)
        if self.solver == "sgd":
            scale = self._loss_scale if loss_scale is None else loss_scale
            return SGD(lr=self.learning_rate_init * scale, momentum=self.momentum,
                       nesterov=self.nesterovs_momentum and self.momentum > 0)  # fmt: skip
        return Adam(lr=self.learning_rate_init, betas=(self.beta_1, self.beta_2), eps=self.epsilon)

    def _fit(self, X, y, sample_weight, incremental, validation_data=None):
        self._prepare_fit(X, y, sample_weight, incremental, validation_data).run()
        return self

    def _prepare_fit(self, X, y, sample_weight, incremental, validation_data=None):
        """Check the parameters and data and build the network: every refusal happens here.

        Returns the ``_Training`` that trains it: ``fit`` runs it at once; the
        ensembles and the searches prepare every network first and then run
        them all through ``fastbp.many.run_tasks``.
        """
        hidden = self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not (incremental or self.warm_start) or not hasattr(self, "net_")
        # checking the data sets n_features_in_, feature_names_in_ and the label set; when any
        # of it (validation_data included) is refused, the estimator is put back as it was
        before = dict(self.__dict__)
        try:
            X, y = self._validate_xy(X, y, reset=first)
            if sample_weight is not None:
                sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
            targets, n_outputs = self._encode_targets(y, first)
            sample_weight = self._row_weights(y, sample_weight, incremental)
            val_data = None
            if validation_data is not None:
                Xv, yv = validation_data
                Xv, yv = self._validate_xy(Xv, yv, reset=False)
                val_data = (Xv, self._encode_targets(yv, False)[0])
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            raise
        rng = check_random_state(self.random_state)
        if first:
            self.net_ = self._new_network(X.shape[1], n_outputs, hidden, rng, X.dtype)
            self.n_iter_, self.t_ = 0, 0
            self.loss_curve_, self.validation_loss_curve_ = [], []
            self.best_loss_ = np.inf
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -np.inf if self.early_stopping else None
            self._no_improvement_count = 0
        if self.solver == "lbfgs":  # full-batch passes over every row
            return _Training(
                self.net_, X.shape[0], lambda: self._fit_lbfgs(X, targets, sample_weight), lbfgs=True
            )
        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._new_optimizer()
            self._no_improvement_count = 0

        held_out = None
        if self.early_stopping:
            stratify = y if self._stratify_split() else None
            split = train_test_split(
                np.arange(X.shape[0]), test_size=self.validation_fraction, random_state=rng, stratify=stratify
            )
            train, val = split
            held_out = (X[val], y[val], None if sample_weight is None else sample_weight[val])
            X, targets = X[train], targets[train]
            sample_weight = None if sample_weight is None else sample_weight[train]

        n = X.shape[0]
        batch_size = min(200, n) if self.batch_size == "auto" else min(self.batch_size, n)
        epochs = 1 if incremental else self.max_iter
        stopper = _Stopper(self, held_out, n, self._loss_scale)
        seed = int(rng.randint(np.iinfo(np.int32).max))

        def train():
            self.net_.fit(
                X, targets, epochs=epochs, batch_size=batch_size, optimizer=self._optimizer,
                shuffle=self.shuffle, seed=seed, validation_data=val_data, n_threads=self.n_threads,
                sample_weight=sample_weight, callbacks=[stopper],
            )  # fmt: skip
            if held_out is not None and stopper.best_params is not None:
                self.net_._load_state_vector(stopper.best_params)  # weights and running statistics
            if not incremental and not stopper.converged and self.n_iter_ == self.max_iter:
                warnings.warn(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                    "optimization hasn't converged yet.",
                    ConvergenceWarning,
                    stacklevel=4,
                )
            self._set_weight_attributes()

        return _Training(self.net_, batch_size, train)

    def _stratify_split(self):
        return False

    def _validate_xy(self, X, y, reset):
        return validate_data(
            self, X, y, reset=reset, multi_output=True, y_numeric=self._y_numeric, dtype=FLOAT_DTYPES
        )

    def _fit_lbfgs(self, X, targets, sample_weight):
        """Full-batch L-BFGS-B through scipy on the network's loss and gradient."""
        net = self.net_
        loss_grad = net._loss_grad_function(X, targets, None, sample_weight)
        grad = np.empty_like(net.params)

        def fun(p):
            net.params[:] = p
            loss = loss_grad(grad)
            return float(loss), grad.astype(np.float64)

        result = minimize(
            fun, net.params.astype(np.float64), method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
        )  # fmt: skip
        net.params[:] = result.x
        self.n_iter_ = int(result.nit)
        self.t_ = X.shape[0] * self.n_iter_
        self.loss_ = float(result.fun) * self._loss_scale
        self.best_loss_ = None
        self.loss_curve_ = None
        if result.status != 0:
            warnings.warn(f"lbfgs failed to converge: {result.message}", ConvergenceWarning, stacklevel=4)
        self._set_weight_attributes()
        return self

    def _set_weight_attributes(self):
        net = self.net_
        self.n_layers_ = len(net.sizes)
        self.n_outputs_ = net.sizes[-1]
        self.coefs_ = [w.copy() for w in net.coefs_]
        self.intercepts_ = [b.copy() for b in net.intercepts_]
        self.out_activation_ = {"softmax": "softmax", "sigmoid": "logistic"}.get(net.output, net.output)

    # ------------------------------------------------------------- predicting
    def _forward(self, X):
        check_is_fitted(self, "net_")
        X = validate_data(self, X, reset=False, dtype=FLOAT_DTYPES)
        return self.net_.predict(X, n_threads=self.n_threads).astype(np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    # ------------------------------------------------------------- scikit-learn's MLPs
    @classmethod
    def from_sklearn(cls, fitted, dtype=None):
        """This estimator with the parameters, weights and classes of a fitted scikit-learn MLP.

        Parameters
        ----------
        fitted : sklearn.neural_network.MLPClassifier or MLPRegressor
            Fitted; the classifier's for ``MLPClassifier.from_sklearn``, the
            regressor's for ``MLPRegressor.from_sklearn``.
        dtype : {"float32", "float64"}, optional
            The dtype of its weights by default (float64 unless it was
            fitted on float32), which keeps its predictions to rounding.

        Returns
        -------
        MLPClassifier or MLPRegressor
            ``predict`` and ``predict_proba`` equal scikit-learn's to
            rounding; ``partial_fit``, or ``fit`` with ``warm_start=True``,
            trains on from these weights (with a new optimizer state).
        """
        from sklearn import neural_network

        twin = getattr(neural_network, cls.__name__)
        if type(fitted) is not twin:
            raise TypeError(f"{cls.__name__}.from_sklearn takes a fitted scikit-learn {cls.__name__}, "
                            f"not {type(fitted).__name__}")  # fmt: skip
        check_is_fitted(fitted, "coefs_")
        dtype = fitted.coefs_[0].dtype.name if dtype is None else dtype
        params = {k: v for k, v in fitted.get_params().items() if k in cls._get_param_names()}
        est = cls(**{**params, "dtype": dtype})
        est._check_params()
        est.n_features_in_ = fitted.n_features_in_
        if hasattr(fitted, "feature_names_in_"):
            est.feature_names_in_ = fitted.feature_names_in_
        est._adopt_targets(fitted)
        hidden = [w.shape[1] for w in fitted.coefs_[:-1]]
        est.net_ = est._new_network(fitted.n_features_in_, fitted.n_outputs_, hidden, check_random_state(0))
        for w, w_from in zip(est.net_.coefs_ + est.net_.intercepts_, fitted.coefs_ + fitted.intercepts_):
            w[:] = w_from
        for name in ("n_iter_", "t_", "best_loss_", "best_validation_score_", "_no_improvement_count"):
            setattr(est, name, getattr(fitted, name, None))
        est.loss_curve_ = list(getattr(fitted, "loss_curve_", None) or [])
        est.validation_scores_ = getattr(fitted, "validation_scores_", None)
        est.validation_loss_curve_ = []
        est._set_weight_attributes()
        return est

    def to_sklearn(self):
        """The fitted model as scikit-learn's ``MLPClassifier`` or ``MLPRegressor``, with these weights.

        Its predictions equal this estimator's to rounding, and it trains on
        with scikit-learn (``partial_fit``, or ``warm_start=True``).

        Raises
        ------
        ValueError
            Where scikit-learn's MLP cannot express the model, saying why:
            norms or residual blocks, several hidden activations, or one
            that scikit-learn lacks (it has identity, logistic, tanh, relu).
            Dropout is no obstacle: it is the identity at inference.
        """
        check_is_fitted(self, "net_")
        from sklearn import neural_network

        if self.norm is not None or self.residual:
            raise ValueError("scikit-learn's MLP has no norm layers or residual blocks; this model has "
                             f"norm={self.norm!r}, residual={self.residual!r}")  # fmt: skip
        activations = set(self.net_.activation) or {"relu"}
        names = {"identity": "identity", "sigmoid": "logistic", "tanh": "tanh", "relu": "relu"}
        if len(activations) > 1 or not activations <= names.keys():
            raise ValueError(f"scikit-learn's MLP has one hidden activation of {sorted(names.values())}; "
                             f"this model has {self.net_.activation}")  # fmt: skip
        twin = getattr(neural_network, type(self).__name__)
        params = {k: v for k, v in self.get_params().items() if k in twin._get_param_names()}
        sk = twin(**{**params, "activation": names[activations.pop()]})
        fitted = ("n_features_in_", "feature_names_in_", "n_iter_", "t_", "best_loss_", "validation_scores_",
                  "best_validation_score_", "_no_improvement_count", "n_layers_", "n_outputs_",
                  "out_activation_")  # fmt: skip
        for name in fitted:
            if hasattr(self, name):
                setattr(sk, name, getattr(self, name))
        sk.coefs_ = [w.astype(np.float64) for w in self.net_.coefs_]
        sk.intercepts_ = [b.astype(np.float64) for b in self.net_.intercepts_]
        sk.loss_curve_ = list(self.loss_curve_)
        if self.loss_curve_:
            sk.loss_ = self.loss_curve_[-1]
        self._give_targets(sk)
        return sk

    def _adopt_targets(self, fitted):
        pass

    def _give_targets(self, sk):
        pass

    # ------------------------------------------------------------- export
    def to_onnx(self, path=None, opset=None):
        """The fitted model as an ONNX model, written to ``path`` when given (needs the onnx package).

        The input is ``"X"`` (N, n_features_in_) in the network's dtype.  The
        outputs are those skl2onnx gives scikit-learn's MLPs with
        ``zipmap=False``: for the classifier ``"label"`` (N,), in the type of
        ``classes_`` (integers, floats, booleans or text; a 0/1 int64 matrix
        (N, n_labels) for multi-label), and ``"probabilities"`` (N,
        n_classes); for the regressor ``"variable"`` (N, n_outputs).

        Parameters
        ----------
        path : str or os.PathLike, optional
        opset : int, optional
            As in ``fastbp.Sequential.to_onnx``.

        Returns
        -------
        onnx.ModelProto
        """
        check_is_fitted(self, "net_")
        from . import onnx_export

        g = onnx_export.Graph(self.net_.dtype, opset)
        out = onnx_export.add_network(g, self.net_, g.input("X", self.n_features_in_))
        self._onnx_outputs(g, out)
        model = g.model(f"fastbp_{type(self).__name__}", doc=repr(self))
        if path is not None:
            onnx_export.save(model, path)
        return model


class _Training:
    """One prepared fit of an estimator: ``run()`` trains ``net`` (passes of ``rows`` rows).

    ``task(index)`` wraps it for ``fastbp.many.run_tasks``, which trains it alone
    when its passes spread over the cores (``many.runs_alone``) and in the
    worker pool otherwise.
    """

    def __init__(self, net, rows, run, lbfgs=False):
        self.net, self.rows, self.run, self.lbfgs = net, rows, run, lbfgs

    def task(self, index, epochs):
        from .many import Task, runs_alone, uses_blas_threads

        alone = uses_blas_threads(self.net, self.rows) if self.lbfgs else runs_alone(self.net, self.rows)
        return Task(index, self.run, alone, cost=float(epochs) * self.rows * self.net.n_params)


class _Stopper:
    """scikit-learn's stopping rules and learning-rate changes, called by ``MLP.fit`` after each epoch."""

    def __init__(self, est, held_out, n_rows, loss_scale):
        self.est, self.held_out, self.n_rows, self.loss_scale = est, held_out, n_rows, loss_scale
        self.best_params = None
        self.converged = False

    def __call__(self, info):
        est = self.est
        est.n_iter_ += 1
        est.t_ += self.n_rows
        est.loss_ = info["loss"] * self.loss_scale
        est.loss_curve_.append(est.loss_)
        if info["val_loss"] is not None:
            est.validation_loss_curve_.append(info["val_loss"] * self.loss_scale)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {info['loss']:.8f}", flush=True)
        optimizer = info["optimizer"]
        if est.solver == "sgd" and est.learning_rate == "invscaling":
            optimizer.lr = self.loss_scale * est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if self.held_out is not None:
            score = est._validation_score(*self.held_out)
            est.validation_scores_.append(score)
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                self.best_params = info["net"]._state_vector()
        else:
            if est.loss_curve_[-1] > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, est.loss_curve_[-1])
        if est._no_improvement_count > est.n_iter_no_change:
            if (
                est.solver == "sgd"
                and est.learning_rate == "adaptive"
                and optimizer.lr > 1e-6 * self.loss_scale
            ):
                optimizer.lr /= 5.0
                est._no_improvement_count = 0
                return False
            self.converged = True
            return True
        return False


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multilayer perceptron classifier with scikit-learn's ``MLPClassifier`` interface.

    Parameters
    ----------
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init,
    power_t, max_iter, shuffle, random_state, tol, verbose, warm_start, momentum,
    nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon,
    n_iter_no_change, max_fun
        As in ``sklearn.neural_network.MLPClassifier``.  ``activation`` also
        takes any fastbp activation (relu, tanh, logistic/sigmoid, identity,
        leaky_relu, elu, gelu, softplus, silu) or a list with one per hidden layer.
    dropout : float or list of float, default 0
        Inverted-dropout rate after each hidden layer, in training only.
    norm : {None, "layer", "batch"}, default None
        A LayerNorm or BatchNorm after each hidden dense layer (see ``fastbp.MLP``).
    residual : bool, default False
        Hidden blocks whose width equals their input's become residual, x + f(x).
    class_weight : dict, "balanced" or None
        Weights of the classes, multiplied into ``sample_weight``.
    n_threads : int, optional
        Threads for fit and predict (see ``fastbp.set_num_threads``).
    dtype : {None, "float32", "float64"}, default None
        The network's dtype.  None follows the training input: float32 input
        trains in float32, anything else (float64, integers) in float64, as
        scikit-learn's MLP does; ``predict`` then takes any input.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,), or list of arrays for multi-label
    coefs_ : list of ndarray, ``coefs_[l]`` of shape (n_units[l], n_units[l+1])
    intercepts_ : list of ndarray, ``intercepts_[l]`` of shape (n_units[l+1],)
    loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_,
    n_iter_, t_, n_features_in_, feature_names_in_, n_layers_, n_outputs_, out_activation_
        As in scikit-learn.
    validation_loss_curve_ : list of float
        Loss on ``validation_data`` after each epoch, when it was given.
    net_ : fastbp.MLP
        The trained network.
    """

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
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
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            dropout=dropout, norm=norm, residual=residual, n_threads=n_threads, dtype=dtype,
        )  # fmt: skip
        self.class_weight = class_weight

    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the network to ``X`` (n, n_features) and labels ``y`` (n,) or indicators (n, n_labels).

        ``validation_data=(X_val, y_val)`` records the loss on it after each
        epoch in ``validation_loss_curve_``.  Returns ``self``.
        """
        self.__dict__.pop("_partial_classes", None)  # classes= of an earlier partial_fit do not apply
        return self._fit(X, y, sample_weight, incremental=False, validation_data=validation_data)

    @available_if(_stochastic_solver)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch over ``X``, ``y``, continuing from the current weights and optimizer state.

        ``classes`` (every label that will ever appear) is required on the first call.
        """
        if not hasattr(self, "net_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self._partial_classes = np.asarray(classes)
        elif classes is not None and not np.array_equal(np.unique(classes), self._label_set()):
            raise ValueError(f"classes {classes!r} differ from the first call's {self._label_set()!r}")
        return self._fit(X, y, sample_weight, incremental=True)

    def _label_set(self):
        return self._binarizer.classes_

    def _output(self):
        if self._multiclass:
            return "cross_entropy", None
        return "binary_cross_entropy", None

    def _stratify_split(self):
        return not self._multilabel

    def _encode_targets(self, y, first):
        if first:
            target_type = type_of_target(y, input_name="y")
            if target_type not in ("binary", "multiclass", "multilabel-indicator"):
                raise ValueError(f"Unknown label type: {target_type}; MLPClassifier needs class labels")
            self._binarizer = LabelBinarizer()
            fit_labels = getattr(self, "_partial_classes", None)
            if fit_labels is not None and target_type != "multilabel-indicator":
                self._binarizer.fit(fit_labels)
            else:
                self._binarizer.fit(y)
            self.classes_ = self._binarizer.classes_
            self._multilabel = self._binarizer.y_type_ == "multilabel-indicator"
            self._multiclass = not self._multilabel and len(self.classes_) > 2
        if self._multilabel:
            indicator = self._binarizer.transform(y).astype(np.float64)
            return indicator, indicator.shape[1]
        y = column_or_1d(y, warn=True)
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise ValueError(f"y contains labels not seen at the first fit: {unseen[:5]!r}")
        index = np.searchsorted(self.classes_, y)
        if self._multiclass:
            return index.astype(np.int64), len(self.classes_)
        return index.astype(np.float64).reshape(-1, 1), 1

    def _row_weights(self, y, sample_weight, incremental):
        if self.class_weight is None:
            return sample_weight
        if incremental and isinstance(self.class_weight, str):
            raise ValueError("class_weight='balanced' needs the whole data set; use a dict with partial_fit")
        if isinstance(self.class_weight, dict) and not self._multilabel:
            # by the classes of the first fit, so a chunk may lack some of them
            per_class = np.array([self.class_weight.get(c, 1.0) for c in self.classes_], dtype=np.float64)
            weights = per_class[np.searchsorted(self.classes_, column_or_1d(y))]
        else:
            weights = compute_sample_weight(self.class_weight, y)
        return weights if sample_weight is None else weights * sample_weight

    def _validation_score(self, X, y, sample_weight):
        labels = self._labels(self.net_.predict(X, n_threads=self.n_threads))
        return accuracy_score(y, labels, sample_weight=sample_weight)

    def predict_proba(self, X):
        """Class probabilities, shape (n, n_classes) (n_labels for multi-label), float64."""
        out = self._forward(X)
        if self._multiclass or self._multilabel:
            return out
        return np.hstack([1.0 - out, out])

    def _labels(self, out):
        """Labels from the network's outputs ``out`` (n, n_outputs)."""
        if self._multilabel:
            return self._binarizer.inverse_transform((out > 0.5).astype(int))
        if self._multiclass:
            return self.classes_[np.argmax(out, axis=1)]
        return self.classes_[(out[:, 0] > 0.5).astype(int)]

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Labels of the rows of ``X``, of the type the labels had in ``fit``."""
        return self._labels(self._forward(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _adopt_targets(self, fitted):
        self._binarizer = copy.deepcopy(fitted._label_binarizer)
        self.classes_ = self._binarizer.classes_
        self._multilabel = self._binarizer.y_type_ == "multilabel-indicator"
        self._multiclass = not self._multilabel and len(self.classes_) > 2

    def _give_targets(self, sk):
        sk.classes_ = self.classes_
        sk._label_binarizer = copy.deepcopy(self._binarizer)

    def _onnx_outputs(self, g, out):
        from .onnx_export import add_labels

        n = len(self.classes_)
        if self._multilabel:
            above = g.node("Greater", [out, g.constant("threshold", 0.5)], "above_half")
            elem, dims = g.onnx.TensorProto.INT64, [n]
            label = g.node("Cast", [above], "indicator", to=elem)
        else:
            if not self._multiclass:  # one logistic output: p(classes_[1]); scikit-learn gives both columns
                out = g.node("Concat", [g.node("Sub", [g.constant("one", 1.0), out], "p0"), out], "p", axis=1)
            label, elem = add_labels(g, out, self.classes_)
            dims = []
        g.output(g.rename(label, "label"), dims, elem)
        g.output(g.rename(out, "probabilities"), [n])


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multilayer perceptron regressor with scikit-learn's ``MLPRegressor`` interface.

    The loss is scikit-learn's: half the mean squared error, plus the L2 term.
    Parameters and attributes are those of ``MLPClassifier`` without
    ``class_weight`` and ``classes_``, with scikit-learn's ``loss`` first
    (only "squared_error"; "poisson" is refused); ``y`` may be (n,) or
    (n, n_outputs).
    """

    _y_numeric = True

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
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
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver, alpha=alpha,
            batch_size=batch_size, learning_rate=learning_rate, learning_rate_init=learning_rate_init,
            power_t=power_t, max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            dropout=dropout, norm=norm, residual=residual, n_threads=n_threads, dtype=dtype,
        )  # fmt: skip
        self.loss = loss

    def _check_params(self):
        if self.loss != "squared_error":
            raise ValueError(f"fastbp's MLPRegressor supports loss='squared_error' only, got {self.loss!r}")
        return super()._check_params()

    def fit(self, X, y, sample_weight=None, validation_data=None):
        """Fit the network to ``X`` (n, n_features) and ``y`` (n,) or (n, n_outputs).  Returns ``self``."""
        return self._fit(X, y, sample_weight, incremental=False, validation_data=validation_data)

    @available_if(_stochastic_solver)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``X``, ``y``, continuing from the current weights and optimizer state."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _output(self):
        return "squared_error", "identity"

    def _encode_targets(self, y, first):
        y = np.asarray(y, dtype=np.float64)
        y2 = y.reshape(-1, 1) if y.ndim == 1 else y
        if not first and y2.shape[1] != self.net_.sizes[-1]:
            raise ValueError(f"y has {y2.shape[1]} outputs, the model was fitted with {self.net_.sizes[-1]}")
        return y2, y2.shape[1]

    def _validation_score(self, X, y, sample_weight):
        out = self.net_.predict(X, n_threads=self.n_threads).astype(np.float64)
        return r2_score(y, out[:, 0] if out.shape[1] == 1 else out, sample_weight=sample_weight)

    def predict(self, X):
        """Predicted values, float64: shape (n,) for one output (as scikit-learn), else (n, n_outputs)."""
        out = self._forward(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _onnx_outputs(self, g, out):
        g.output(g.rename(out, "variable"), [self.n_outputs_])
