"""The ``MLP`` model: parameters in one flat buffer, and the Python face of the kernels."""

import math
import numbers
import threading

import numpy as np

from . import checkpoint as checkpoints
from . import io, training, validation
from .history import History
from .kernels import activations, losses
from .kernels import network as kernels
from .kernels.random import derive_key
from .layout import Layout
from .optimizers import get_optimizer
from .progress import EpochReporter
from .schedules import get_schedule
from .threads import check_threads, using_threads
from .training import TrainingDiverged  # noqa: F401  (fastbp.model.TrainingDiverged, as before)
from .workspace import Workspace, chunk_rows_for

DTYPES = {"float32": np.float32, "float64": np.float64}
OUTPUTS_OF_LOSS = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}
PREDICT_CHUNK = 4096  # rows per forward pass in predict: bounds the work buffers
# predict keeps one workspace of this many rows per thread and reuses it for
# calls with no more rows: building one costs ~14 us, most of a one-row predict.
SMALL_PREDICT_ROWS = 64
KEPT_WORKSPACE_BYTES = 64 << 20  # a fit's work buffers up to this size stay for the next fit
NO_WEIGHTS = np.empty(0)  # the kernels' "every row has weight 1"


def _as_seed(seed):
    if seed is None:
        return int(np.random.SeedSequence().entropy % (1 << 63))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


def _per_hidden_layer(name, value, n_hidden, check):
    if not isinstance(value, (list, tuple)):
        check(value)  # checked even when there is no hidden layer to use it
        value = [value] * n_hidden
    values = list(value)
    if len(values) != n_hidden:
        raise ValueError(f"{name} has {len(values)} entries for {n_hidden} hidden layers")
    return [check(v) for v in values]


def _check_activation(name):
    if name not in activations.CODES:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(activations.CODES)}")
    return name


def _check_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise ValueError(f"dropout rates must lie in [0, 1), got {rate!r}")
    return float(rate)


class MLP:
    """A multilayer perceptron whose weights and biases live in one flat array.

    Parameters
    ----------
    sizes : sequence of int
        ``[n_in, h1, ..., n_out]``: input width, hidden widths, output width.
    activation : str or list of str, default "relu"
        Hidden-layer activation, one name for all or one per hidden layer:
        identity, relu, leaky_relu, elu, gelu, sigmoid, tanh, softplus, silu.
    loss : str, default "mse"
        mse, squared_error (half the mse), mae, huber, cross_entropy or
        binary_cross_entropy.
    output : str, optional
        Output function.  cross_entropy implies "softmax" and
        binary_cross_entropy "sigmoid" (the loss works on the logits).  For
        the regression losses the default is "identity"; any activation name
        may be given and is then part of the network, in training and predict.
    dtype : {"float32", "float64"}, default "float32"
    seed : int or None, default 0
        Seeds the initial weights and, unless ``fit`` gets its own seed, the
        shuffling and dropout of training.
    alpha : float, default 0
        L2 penalty ``0.5 * alpha * sum(W**2) / rows`` added to each batch's
        loss (weights only, not biases; scikit-learn's meaning).
    dropout : float or list of float, default 0
        Inverted-dropout rate after each hidden layer (off in ``predict``).

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        Every weight and bias, C-contiguous.
    coefs_ : list of ndarray
        Views into ``params``; ``coefs_[l]`` has shape ``(sizes[l], sizes[l+1])``.
    intercepts_ : list of ndarray
        Views into ``params``; ``intercepts_[l]`` has shape ``(sizes[l+1],)``.

    Examples
    --------
    >>> import numpy as np, fastbp
    >>> X = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> net = fastbp.MLP([4, 16, 2], loss="cross_entropy", seed=0)
    >>> hist = net.fit(X, y, epochs=20, batch_size=32, optimizer=fastbp.Adam(lr=1e-2))
    >>> net.predict(X).shape
    (256, 2)
    """

    def __init__(
        self,
        sizes,
        activation="relu",
        loss="mse",
        output=None,
        dtype="float32",
        seed=0,
        alpha=0.0,
        dropout=0.0,
    ):
        sizes = list(sizes)
        if len(sizes) < 2 or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes
        ):
            raise ValueError(f"sizes must be at least two positive integers, got {sizes!r}")
        n_hidden = len(sizes) - 2
        if loss not in losses.CODES:
            raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(losses.CODES)}")
        if str(dtype) not in DTYPES:
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        default_output = OUTPUTS_OF_LOSS.get(loss, "identity")
        output = default_output if output is None else output
        if loss in OUTPUTS_OF_LOSS and output != default_output:
            raise ValueError(f"loss {loss!r} works on logits and implies output={default_output!r}")
        if loss not in OUTPUTS_OF_LOSS:
            _check_activation(output)
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha >= 0:
            raise ValueError(f"alpha must be a number >= 0, got {alpha!r}")

        self.sizes = tuple(int(s) for s in sizes)
        self.activation = _per_hidden_layer("activation", activation, n_hidden, _check_activation)
        self.dropout = _per_hidden_layer("dropout", dropout, n_hidden, _check_rate)
        self.loss = loss
        self.output = output
        self.dtype = np.dtype(DTYPES[str(dtype)])
        self.seed = _as_seed(seed)
        self.alpha = float(alpha)
        self.layout = Layout(self.sizes)
        out_act = output if loss not in OUTPUTS_OF_LOSS else "identity"
        self._acts = np.array([activations.CODES[a] for a in self.activation + [out_act]], dtype=np.int64)
        self._drop = np.array(self.dropout + [0.0], dtype=np.float64)
        self._loss_code = losses.CODES[loss]
        self.params = np.empty(self.layout.n_params, dtype=self.dtype)
        self.epochs_trained = 0
        self.reset_parameters()

    # ------------------------------------------------------------------ layout
    @property
    def n_params(self):
        return self.layout.n_params

    @property
    def coefs_(self):
        return self.layout.weights(self.params)

    @property
    def intercepts_(self):
        return self.layout.biases(self.params)

    def reset_parameters(self):
        """Draw weights from ``seed``: He-uniform after relu-like layers, else Glorot-uniform; zero biases."""
        rng = np.random.default_rng(self.seed)
        following = self.activation + [self.output]
        for w, b, act in zip(self.coefs_, self.intercepts_, following):
            fan_in, fan_out = w.shape
            if act in activations.RELU_LIKE:
                limit = math.sqrt(6.0 / fan_in)
            else:
                limit = math.sqrt(6.0 / (fan_in + fan_out))
            w[:] = rng.uniform(-limit, limit, size=w.shape)
            b[:] = 0.0
        self.epochs_trained = 0

    def _config(self):
        """Constructor arguments that rebuild this network (without its weights)."""
        return {
            "sizes": list(self.sizes),
            "activation": list(self.activation),
            "loss": self.loss,
            "output": self.output,
            "dtype": self.dtype.name,
            "seed": self.seed,
            "alpha": self.alpha,
            "dropout": list(self.dropout),
        }

    def copy(self, dtype=None):
        """An independent copy, optionally converted to ``dtype``."""
        config = self._config()
        if dtype is not None:
            config["dtype"] = str(np.dtype(dtype))
        other = MLP(**config)
        other.params[:] = self.params
        other.epochs_trained = self.epochs_trained
        return other

    def __repr__(self):
        return (
            f"MLP({list(self.sizes)}, activation={self.activation}, loss={self.loss!r}, "
            f"output={self.output!r}, dtype={self.dtype.name!r})"
        )

    # ------------------------------------------------------------------ kernels
    def _net_args(self):
        return (self.layout.sizes_array, self.layout.weight_offsets, self.layout.bias_offsets, self._acts)

    def _check_xy(self, X, y):
        X = validation.check_features(X, self.sizes[0], self.dtype)
        y2d, labels = validation.check_targets(y, X.shape[0], self.sizes[-1], self._loss_code, self.dtype)
        return X, y2d, labels

    def _loss_grad_into(self, X, y2d, labels, sw, grad, ws, drop, drop_key):
        sizes, w_off, b_off, acts = self._net_args()
        return kernels.loss_gradient(
            self.params, grad, sizes, w_off, b_off, acts, drop, ws.act_off, self._loss_code, self.alpha,
            X, y2d, labels, sw, ws.zbuf, ws.abuf, ws.hbuf, ws.dbuf, ws.dbuf2, drop_key, 0, True,
        )  # fmt: skip

    def loss_grad(self, X, y, dropout_seed=None, sample_weight=None):
        """Mean loss over the rows of ``X`` and its gradient; the weights are not changed.

        Parameters
        ----------
        X : array-like of shape (n, n_in)
        y : array-like of shape (n, n_out), or (n,) for one output or class labels
        dropout_seed : int, optional
            Without it dropout is off.  With it dropout is on, its mask drawn from
            this seed (the same seed gives the same mask).
        sample_weight : array-like of shape (n,), optional
            Non-negative row weights: the loss is ``sum(w_i * loss_i) / sum(w_i)``
            (the L2 term too is divided by ``sum(w_i)``), as in ``fit``.

        Returns
        -------
        loss : float
            Includes the L2 term when ``alpha > 0``.
        grad : ndarray of shape (n_params,)
            Same layout and dtype as ``params``.
        """
        grad = np.empty_like(self.params)
        loss = self._loss_grad_function(X, y, dropout_seed, sample_weight)(grad)
        return float(loss), grad

    def _loss_grad_function(self, X, y, dropout_seed=None, sample_weight=None):
        """Check the data once and return ``f(grad) -> loss`` for the current weights.

        ``f`` writes the gradient into ``grad`` (n_params,) and can be called
        again after the weights change (``gradcheck`` does, once per parameter).
        """
        X, y2d, labels = self._check_xy(X, y)
        sw = validation.check_sample_weight(sample_weight, X.shape[0])
        use_dropout = dropout_seed is not None and any(self.dropout)
        ws = Workspace(self.layout, X.shape[0], self.dtype, dropout=use_dropout)
        drop = self._drop if use_dropout else np.zeros_like(self._drop)
        key = np.uint64(0) if dropout_seed is None else derive_key(_as_seed(dropout_seed))
        return lambda grad: self._loss_grad_into(X, y2d, labels, sw, grad, ws, drop, key)

    def predict(self, X, n_threads=None):
        """Network outputs with the output function applied.

        Parameters
        ----------
        X : array-like of shape (n, n_in)
        n_threads : int, optional
            Threads for this call (see ``fastbp.set_num_threads``).

        Returns
        -------
        ndarray of shape (n, n_out), in the network's dtype
            Class probabilities for the cross-entropy losses, values otherwise.
        """
        X = validation.check_features(X, self.sizes[0], self.dtype)
        chunk = min(X.shape[0], PREDICT_CHUNK)
        ws = (
            self._small_workspace()
            if chunk <= SMALL_PREDICT_ROWS
            else Workspace(self.layout, chunk, self.dtype)
        )
        out = np.empty((X.shape[0], self.sizes[-1]), dtype=self.dtype)
        spec = getattr(ws, "predict_spec", None)
        if spec is None:  # kept on the workspace, so repeated small predicts build it once
            spec = kernels.predict_spec(*self._net_args(), ws.act_off, self._loss_code, ws.rows)
            ws.predict_spec = spec
        with using_threads(n_threads):
            kernels.predict(self.params, spec, X, out, ws.zbuf, ws.abuf)
        return out

    def _accuracy(self, X, y2d, labels):
        """Fraction of right answers of a classification network on checked data."""
        out = self.predict(X)
        if labels.size:
            return float(np.mean(out.argmax(axis=1) == labels))
        if self.loss == "cross_entropy":  # one-hot or soft targets: the most likely class
            return float(np.mean(out.argmax(axis=1) == y2d.argmax(axis=1)))
        return float(np.mean((out > 0.5) == (y2d > 0.5)))

    def _fit_workspace(self, rows, **options):
        """Work buffers for a fit, reused from the last fit when it needed the same ones.

        Fresh buffers cost a page fault per 4 KiB on first touch: a one-epoch
        fit of 4-32-16-4 on 10,000 rows took 4.4 ms with new buffers and 1.7 ms
        with reused ones.  Buffers above KEPT_WORKSPACE_BYTES are not kept
        after the fit, so a large model does not hold them.
        """
        key = (rows, self.dtype, tuple(sorted(options.items())))
        kept = self.__dict__.pop("_kept_workspace", None)
        if kept is not None and kept[0] == key:
            ws = kept[1]
        else:
            ws = Workspace(self.layout, rows, self.dtype, **options)
        if ws.nbytes <= KEPT_WORKSPACE_BYTES:
            self._kept_workspace = (key, ws)
        return ws

    def _small_workspace(self):
        """This thread's reusable workspace for predicts of up to SMALL_PREDICT_ROWS rows."""
        local = self.__dict__.get("_scratch")
        if local is None:
            local = self.__dict__.setdefault("_scratch", threading.local())
        ws = getattr(local, "workspace", None)
        if ws is None:
            ws = local.workspace = Workspace(self.layout, SMALL_PREDICT_ROWS, self.dtype)
        return ws

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_scratch", None)  # per-thread scratch buffers are not part of the model
        state.pop("_kept_workspace", None)
        return state

    def evaluate(self, X, y, batch_size=PREDICT_CHUNK, sample_weight=None):
        """Mean data loss over ``X`` (no dropout, no L2 term), in passes of ``batch_size`` rows.

        With ``sample_weight`` (n,) the mean is weighted.
        """
        batch_size = validation.check_positive_int("batch_size", batch_size)
        X, y2d, labels = self._check_xy(X, y)
        sw = validation.check_sample_weight(sample_weight, X.shape[0])
        chunk = min(X.shape[0], batch_size)
        ws = Workspace(self.layout, chunk, self.dtype)
        return self._evaluate(X, y2d, labels, sw, ws)

    def _evaluate(self, X, y2d, labels, sw, ws, blas=True):
        sizes, w_off, b_off, acts = self._net_args()
        loss = kernels.evaluate_loss(
            self.params, sizes, w_off, b_off, acts, ws.act_off, self._loss_code,
            X, y2d, labels, sw, ws.rows, ws.zbuf, ws.abuf, blas,
        )  # fmt: skip
        return float(loss)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        X,
        y,
        epochs=10,
        batch_size=32,
        optimizer=None,
        shuffle=True,
        seed=None,
        validation_data=None,
        verbose=0,
        lr_schedule=None,
        patience=None,
        min_delta=0.0,
        n_threads=None,
        sample_weight=None,
        callbacks=(),
        clip_norm=None,
        deterministic=False,
        checkpoint=None,
        checkpoint_every=1,
        resume=None,
    ):
        """Train with mini-batch backpropagation; each epoch is one compiled call.

        Parameters
        ----------
        X : array-like of shape (n, n_in)
            A C-contiguous array of the network's dtype is used without a copy.
        y : array-like of shape (n, n_out), or (n,)
            Targets; class labels 0..n_out-1 or one-hot rows for cross_entropy.
        epochs : int, default 10
        batch_size : int, default 32
            Rows per step; the last batch of an epoch may be shorter.  Each step
            uses the mean loss of its batch.
        optimizer : Optimizer or str, default Adam()
            An optimizer object keeps its state across fits; a name gives a new
            one with its defaults.
        shuffle : bool, default True
            Shuffle the rows each epoch; with False batches are consecutive slices.
            The order of an epoch is a permutation drawn from that epoch's key
            (see ``seed``), so every epoch has its own; ``fastbp.kernels.random``
            documents the draw.
        seed : int, optional
            Seed for shuffling and dropout.  Epoch ``e`` of this call has the
            key ``derive_key(seed, 0x5EED, e)``; without ``seed`` it is
            ``derive_key(net.seed, 0x5EED, net.epochs_trained + e)``, so the
            same sequence of calls repeats exactly and a later fit continues
            with new orders.  With ``resume`` the checkpointed fit's keys
            continue and ``seed`` is not used.
        validation_data : (X_val, y_val), optional
            Evaluated after every epoch into ``History.val_loss``.
        verbose : int, default 0
            0 is silent.  1 shows progress after every epoch (loss, validation
            loss and accuracy, samples/s, time left): a live bar when the
            output is a terminal and tqdm is installed, else one line per
            epoch.  2 always prints lines.
        lr_schedule : str or Schedule, optional
            constant, step, exponential, cosine, invscaling or plateau, or an
            instance from ``fastbp.schedules``.  Applied per epoch.
        patience : int, optional
            Early stopping: stop after ``patience`` epochs without the validation
            loss falling by more than ``min_delta``, and restore the best weights.
            Needs ``validation_data``.
        min_delta : float, default 0
        n_threads : int, optional
            Threads for this call (see ``fastbp.set_num_threads``).  The result
            does not depend on it.
        sample_weight : array-like of shape (n,), optional
            Non-negative row weights (scikit-learn's meaning): each batch's loss
            is ``sum(w_i * loss_i) / sum(w_i)``, and its L2 term is divided by
            ``sum(w_i)`` instead of the row count, so an integer weight counts
            a row that many times.  A batch whose weights are all 0 contributes
            no data gradient (only its L2 term).
        callbacks : sequence of callables, optional
            Each is called after every epoch as ``callback(info)`` with a dict:
            ``epoch`` (0-based), ``epochs``, ``loss``, ``val_loss`` and
            ``val_accuracy`` (or None), ``lr``, ``seconds``,
            ``samples_per_second``, ``net`` and
            ``optimizer`` (whose ``lr`` it may change for the next epoch).
            A callback that returns True stops training after this epoch.
        clip_norm : float, optional
            Scale each step's gradient by ``clip_norm / (norm + 1e-6)`` when
            that is below 1, ``norm`` being its global L2 norm: the rule of
            ``torch.nn.utils.clip_grad_norm_``, epsilon included.
        deterministic : bool, default False
            By default the weights are bit-identical for any ``n_threads``, but
            wide layers use BLAS, whose rounding may depend on the BLAS library
            and its own thread count.  True uses fastbp's own loops instead
            (slower on wide layers), so the result does not depend on any
            thread setting of fastbp or of BLAS.
        checkpoint : str or os.PathLike, optional
            Save the network, the optimizer state and the training progress
            to this file every ``checkpoint_every`` epochs and at the end
            (atomically; ``fastbp.load`` reads it as a network).
        checkpoint_every : int, default 1
        resume : str or os.PathLike, optional
            Continue the fit recorded in this checkpoint: its weights,
            optimizer state, schedule, early-stopping state and history, for
            the remaining epochs up to ``epochs``.  With the same data and
            arguments the result is bit-identical to a fit that was never
            interrupted.  The network must have the checkpoint's
            configuration (e.g. ``fastbp.load(path)`` or the same constructor
            arguments).

        Returns
        -------
        History
        """
        epochs = validation.check_positive_int("epochs", epochs)
        batch_size = validation.check_positive_int("batch_size", batch_size)
        checkpoint_every = validation.check_positive_int("checkpoint_every", checkpoint_every)
        clip = 0.0 if clip_norm is None else validation.check_positive_float("clip_norm", clip_norm)
        if n_threads is not None:
            check_threads(n_threads)
        if patience is not None:
            patience = validation.check_positive_int("patience", patience)
            if validation_data is None:
                raise ValueError("early stopping (patience=...) needs validation_data")
        schedule = get_schedule(lr_schedule, epochs)
        X, y2d, labels = self._check_xy(X, y)
        sw = validation.check_sample_weight(sample_weight, X.shape[0])
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (X_val, y_val)")
            X_val, y_val, labels_val = self._check_xy(*validation_data)
        if resume is not None:
            optimizer, progress, history = checkpoints.restore(
                resume, self, optimizer, schedule, batch_size, shuffle
            )
        else:
            optimizer = get_optimizer(optimizer)
            progress = checkpoints.Progress(
                epoch=0, fit_seed=self.seed if seed is None else _as_seed(seed),
                first_epoch=self.epochs_trained if seed is None else 0,
                batch_size=batch_size, shuffle=shuffle,
            )  # fmt: skip
            history = History()

        n = X.shape[0]
        total_weight = float(sw.sum()) if sw.size else n
        rows = min(batch_size, n)
        optimizer.bind(self.n_params, self.dtype)
        grad = np.zeros_like(self.params)
        ws = self._fit_workspace(
            rows, dropout=any(self.dropout), gather=shuffle, n_targets=0 if labels.size else y2d.shape[1],
            chunk_rows=chunk_rows_for(self.layout, rows), weighted=sw.size > 0,
        )  # fmt: skip
        order = np.empty(n if shuffle else 0, dtype=np.int64)
        val_ws = None
        if validation_data is not None:
            val_ws = Workspace(self.layout, min(X_val.shape[0], PREDICT_CHUNK), self.dtype)
        blas = not deterministic  # fastbp's own loops give the same bits whatever BLAS does
        run_epoch = self._epoch_runner(
            grad, optimizer, X, y2d, labels, sw, batch_size, shuffle, clip, blas, ws, order
        )
        callbacks = list(callbacks)
        reporter = None
        if verbose:
            reporter = EpochReporter(epochs, live=False if verbose >= 2 else None, first_epoch=progress.epoch)
            callbacks.append(reporter)

        def validate():
            """(validation loss, accuracy or None) after an epoch, or None without validation data."""
            if val_ws is None:
                return None
            loss = self._evaluate(X_val, y_val, labels_val, NO_WEIGHTS, val_ws, blas)
            accuracy = self._accuracy(X_val, y_val, labels_val) if self.loss in OUTPUTS_OF_LOSS else None
            return loss, accuracy

        loop = training.EpochLoop(
            net=self, run_epoch=run_epoch, validate=validate, optimizer=optimizer, schedule=schedule,
            progress=progress, history=history, epochs=epochs, n_rows=n, total_weight=total_weight,
            stopping=training.EarlyStopping(patience, min_delta),
            checkpoints=training.Checkpoints(checkpoint, checkpoint_every, epochs),
            callbacks=callbacks, n_threads=n_threads,
        )  # fmt: skip
        try:
            loop.run()
        finally:
            if reporter is not None:
                reporter.close()
        if progress.best_params is not None:
            self.params[:] = progress.best_params
        return history

    def _epoch_runner(self, grad, optimizer, X, y2d, labels, sw, batch_size, shuffle, clip, blas, ws, order):
        """``run(lr, key) -> (summed loss, steps, status, failing step)``: one epoch in compiled code.

        Picks the parallel chunked kernel when the workspace was built for it
        (narrow layers), else the serial one (BLAS, or fastbp's loops when
        ``blas`` is False).
        """
        sizes, w_off, b_off, acts = self._net_args()
        hyper = optimizer.hyper()
        common = (
            sizes,
            w_off,
            b_off,
            acts,
            self._drop,
            ws.act_off,
            self._loss_code,
            self.alpha,
            X,
            y2d,
            labels,
            sw,
        )

        def run(lr, key):
            head = (self.params, grad, optimizer.state, optimizer.kind, hyper, lr, optimizer.step_count)
            if ws.chunk_rows:
                return kernels.train_epoch_chunked(
                    *head, *common, batch_size, shuffle, key, clip, ws.chunk_rows,
                    ws.yb, ws.lb, ws.wb, order, ws.zbuf, ws.abuf, ws.hbuf, ws.dbuf, ws.dbuf2,
                    ws.xtbuf, ws.tbuf, ws.chunk_grads, ws.chunk_loss,
                )  # fmt: skip
            return kernels.train_epoch(
                *head, *common, batch_size, shuffle, key, clip, blas,
                ws.xb, ws.yb, ws.lb, ws.wb, order, ws.zbuf, ws.abuf, ws.hbuf, ws.dbuf, ws.dbuf2,
            )  # fmt: skip

        return run

    # ------------------------------------------------------------------ files
    def save(self, path):
        """Write the network to ``path`` atomically (see ``fastbp.io``)."""
        io.save(self, path)


def network_from(model_file, path="model file"):
    """The ``MLP`` that a ``fastbp.io.ModelFile`` describes, with its parameters.

    Raises ``ModelFileError`` when the header describes an invalid network or
    one whose parameters are not the file's ``params`` array.
    """
    header, arrays = model_file.header, model_file.arrays
    try:
        net = MLP(**header["config"])
    except (TypeError, ValueError) as exc:
        raise io.ModelFileError(f"{path}: header describes an invalid network ({exc})") from None
    params = arrays.get("params")
    if params is None or params.dtype.name != net.dtype.name or params.shape != (net.n_params,):
        found = None if params is None else f"{params.dtype.name} {params.shape}"
        raise io.ModelFileError(
            f"{path}: the network needs {net.n_params} {net.dtype.name} parameters, the file holds {found}"
        )
    net.params[:] = params
    net.epochs_trained = header.get("epochs_trained", 0)
    return net


def load(path):
    """Read a network written by ``MLP.save`` (or a checkpoint of ``fit``).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    fastbp.MLP

    Raises
    ------
    ModelFileError
        See ``fastbp.io.read``; also a header whose network does not match its parameters.
    """
    return network_from(io.read(path), path)
