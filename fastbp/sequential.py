"""``Sequential``: a network described by layer specs, its weights in one flat buffer.

The layers compile into a plan (``fastbp.plan``); every pass of the kernels
walks that plan.  ``fastbp.MLP`` is the short form that builds one.
"""

import copy
import math
import numbers
import sys
import threading

import numpy as np

from . import checkpoint as checkpoints
from . import io, training, validation
from ._jit import PARALLEL_MIN_ELEMENTS
from .compiling import notice, watch_if
from .history import History
from .kernels import losses, table
from .kernels import network as kernels
from .kernels.activations import RELU_LIKE
from .kernels.random import derive_key
from .layers import Activation, Dense
from .optimizers import get_optimizer
from .plan import Plan
from .progress import EpochReporter
from .schedules import get_schedule
from .threads import check_threads, using_threads
from .workspace import Workspace, chunk_rows_for

DTYPES = {"float32": np.float32, "float64": np.float64}
OUTPUTS_OF_LOSS = losses.OUTPUTS_OF_LOSS
_PREDICTED = set()  # (family, dtype) of the predicts this process has run: compiled or loaded already
PREDICT_NOTICE = notice("prediction kernel")
PREDICT_CHUNK = 4096  # rows per forward pass in predict: bounds the work buffers
# predict keeps one workspace of this many rows per thread and reuses it for
# calls with no more rows: building one costs ~14 us, most of a one-row predict.
SMALL_PREDICT_ROWS = 64
KEPT_WORKSPACE_BYTES = 64 << 20  # a fit's work buffers up to this size stay for the next fit
NO_WEIGHTS = np.empty(0)  # the kernels' "every row has weight 1"
NO_ORDER = np.empty(0, dtype=np.int64)
TRAINING = table.TRAIN | table.UPDATE_RUNNING


def as_seed(seed):
    """A seed as a non-negative int; None draws one from the operating system."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (1 << 63))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed)


def check_common(loss, dtype, alpha):
    """Refuse an unknown loss or dtype, or a negative alpha."""
    if loss not in losses.CODES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {sorted(losses.CODES)}")
    if str(dtype) not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha >= 0:
        raise ValueError(f"alpha must be a number >= 0, got {alpha!r}")


def _activation_after(layers, index, final):
    """The activation after the dense layer ``layers[index]`` (before the next dense), else ``final``."""
    for layer in layers[index + 1 :]:
        if isinstance(layer, Dense):
            return "identity"
        if isinstance(layer, Activation):
            return layer.kind
    return final


class Sequential:
    """A network of layers, trained by backpropagation in compiled code.

    Parameters
    ----------
    n_in : int
        Input width.
    layers : sequence of fastbp.layers.Layer
        Dense, activation, Dropout, LayerNorm, BatchNorm and Residual layers.
    loss : str, default "mse"
        mse, squared_error (half the mse), mae, huber, cross_entropy or
        binary_cross_entropy.  The cross-entropy losses work on the last
        layer's outputs as logits, and ``predict`` applies softmax or sigmoid.
    dtype : {"float32", "float64"}, default "float32"
    seed : int or None, default 0
        Seeds the initial weights and, unless ``fit`` gets its own seed, the
        shuffling and dropout of training.
    alpha : float, default 0
        L2 penalty ``0.5 * alpha * sum(W**2) / rows`` on the dense weights.

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        Every trained parameter, C-contiguous, in layer order: a dense
        layer's weight (n_in, n) then bias; a norm's scale then shift.
    running_stats : ndarray of shape (n_buffers,)
        The running mean and variance of each BatchNorm, in layer order.
    plan : fastbp.plan.Plan
        The compiled op table.

    Examples
    --------
    >>> import numpy as np, fastbp
    >>> from fastbp import layers as L
    >>> net = fastbp.Sequential(4, [L.Dense(16), L.LayerNorm(), L.ReLU(), L.Dense(2)],
    ...                         loss="cross_entropy", seed=0)
    >>> X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    >>> net.fit(X, (X[:, 0] > 0).astype(int), epochs=2).loss[-1] > 0
    True
    """

    def __init__(self, n_in, layers, loss="mse", dtype="float32", seed=0, alpha=0.0):
        check_common(loss, dtype, alpha)
        self._setup(Plan(n_in, layers), loss, dtype, seed, alpha)

    def _setup(self, plan, loss, dtype, seed, alpha, output_act="identity"):
        self.plan = plan
        self.loss = loss
        self.output = OUTPUTS_OF_LOSS.get(loss, "identity")
        self.dtype = np.dtype(DTYPES[str(dtype)])
        self.seed = as_seed(seed)
        self.alpha = float(alpha)
        self._loss_code = losses.CODES[loss]
        self._has_dropout = bool(np.any(plan.ops[:, table.KIND] == table.DROPOUT))
        self.params = np.empty(plan.n_params, dtype=self.dtype)
        self.running_stats = np.empty(plan.n_buffers, dtype=self.dtype)
        self.epochs_trained = 0
        self._output_act = output_act
        self.reset_parameters()

    # ------------------------------------------------------------------ parameters
    @property
    def layers(self):
        return list(self.plan.layers)

    @property
    def n_params(self):
        return self.plan.n_params

    @property
    def sizes(self):
        """The input width, each dense layer's width, and the output width."""
        sizes = [self.plan.n_in] + [n for _, n in self.plan.dense_shapes()]
        if sizes[-1] != self.plan.n_out or len(sizes) == 1:
            sizes.append(self.plan.n_out)
        return tuple(sizes)

    def parameters(self):
        """[(name, view)] of every parameter in flat-buffer order; the views share ``params``.

        A dense layer's ``weight`` is (n_in, n), then its ``bias``; a norm's
        ``weight`` (scale) then ``bias`` (shift).  Names are layer indices as
        in ``torch.nn.Sequential`` (``"3.0.weight"``: the first layer of the
        residual block at index 3).
        """
        return [
            (name, self.params[o : o + math.prod(s)].reshape(s)) for name, o, s in self.plan.parameter_names
        ]

    def buffers(self):
        """[(name, view)] of each BatchNorm's running_mean and running_var (views of ``running_stats``)."""
        return [
            (name, self.running_stats[o : o + math.prod(s)].reshape(s))
            for name, o, s in self.plan.buffer_names
        ]

    @property
    def coefs_(self):
        """Views of the dense weights, ``coefs_[l]`` of shape (n_in, n_out)."""
        return [self.params[w : w + a * b].reshape(a, b) for (w, _), (a, b) in self._dense()]

    @property
    def intercepts_(self):
        """Views of the dense biases (an empty array for a dense layer without one)."""
        return [self.params[b : b + n] if b >= 0 else self.params[:0] for (_, b), (_, n) in self._dense()]

    def weight_mask(self):
        """Boolean (n_params,), True where ``params`` holds a dense weight (what ``alpha`` penalises)."""
        mask = np.zeros(self.n_params, dtype=bool)
        for (w, _), (a, b) in self._dense():
            mask[w : w + a * b] = True
        return mask

    def _dense(self):
        return list(zip(self.plan.dense_offsets(), self.plan.dense_shapes()))

    def reset_parameters(self):
        """Draw weights from ``seed``, layer by layer.

        A dense weight is He-uniform when the activation after it is relu-like,
        else Glorot-uniform; biases are 0, norm scales 1 and shifts 0, running
        means 0 and running variances 1.
        """
        rng = np.random.default_rng(self.seed)
        self.params[:] = 0.0
        following = self._activations_after_dense()
        for (fan_in, fan_out), (w, _), act in zip(
            self.plan.dense_shapes(), self.plan.dense_offsets(), following
        ):
            if act in RELU_LIKE:
                limit = math.sqrt(6.0 / fan_in)
            else:
                limit = math.sqrt(6.0 / (fan_in + fan_out))
            self.params[w : w + fan_in * fan_out] = rng.uniform(-limit, limit, size=fan_in * fan_out)
        for row in self.plan.ops:
            if row[table.KIND] in (table.LAYER_NORM, table.BATCH_NORM):
                self.params[row[table.PARAM] : row[table.PARAM] + row[table.N_OUT]] = 1.0
        for name, view in self.buffers():
            view[:] = 1.0 if name.endswith("running_var") else 0.0
        self.epochs_trained = 0

    def _activations_after_dense(self):
        found = []

        def walk(layers, final):
            for index, layer in enumerate(layers):
                if isinstance(layer, Dense):
                    found.append(_activation_after(layers, index, final))
                inner = getattr(layer, "layers", None)
                if inner is not None:
                    walk(inner, "identity")

        walk(self.plan.layers, self._output_act)
        return found

    def _config(self):
        """Constructor arguments that rebuild this network (without its weights)."""
        return {
            "class": "Sequential",
            "n_in": self.plan.n_in,
            "layers": [layer.config() for layer in self.plan.layers],
            "loss": self.loss,
            "dtype": self.dtype.name,
            "seed": self.seed,
            "alpha": self.alpha,
        }

    def copy(self, dtype=None):
        """An independent copy, optionally converted to ``dtype``."""
        other = object.__new__(type(self))
        other.__dict__.update(copy.deepcopy(self.__getstate__()))  # lists such as MLP.activation too
        other.dtype = np.dtype(dtype) if dtype is not None else self.dtype
        other.params = self.params.astype(other.dtype)
        other.running_stats = self.running_stats.astype(other.dtype)
        return other

    def __repr__(self):
        layers = self.plan.layers
        return f"Sequential({self.plan.n_in}, {layers!r}, loss={self.loss!r}, dtype={self.dtype.name!r})"

    # ------------------------------------------------------------------ kernels
    def _net(self):
        """The ``table.Net`` bundle of this network for compiled code."""
        plan = self.plan
        return table.Net(
            plan.ops, plan.scalars, self.params, self.running_stats, self._loss_code, self.alpha,
            plan.row_width,
        )  # fmt: skip

    def _net_ref(self):
        """The ``table.NetRef`` bundle that ``predict`` takes, kept while its arrays and settings stay.

        Building one costs about 1.5 us, a tenth of a one-row predict.
        """
        kept = self.__dict__.get("_bundle")
        if (
            kept is not None and kept[0] is self.params and kept[1] is self.running_stats
            and kept[2] == self.alpha and kept[3] is self.plan
        ):  # fmt: skip
            return kept[4]
        plan = self.plan
        bundle = table.NetRef(
            plan.ops, plan.scalars, self.params, self.running_stats, self._loss_code, self.alpha,
            plan.row_width,
        )  # fmt: skip
        self._bundle = (self.params, self.running_stats, self.alpha, plan, bundle)
        return bundle

    def _check_xy(self, X, y):
        X = validation.check_features(X, self.plan.n_in, self.dtype)
        y2d, labels = validation.check_targets(y, X.shape[0], self.plan.n_out, self._loss_code, self.dtype)
        return X, y2d, labels

    def _state_vector(self):
        """The parameters and running statistics in one array (early stopping keeps the best)."""
        return np.concatenate([self.params, self.running_stats])

    def _load_state_vector(self, state):
        self.params[:] = state[: self.n_params]
        self.running_stats[:] = state[self.n_params :]

    def _check_batch_norm_rows(self, rows, what):
        if self.plan.has_batch_norm and rows < 2:
            raise ValueError(
                f"{what} has one row: BatchNorm needs at least two rows of a batch in training "
                "(as torch.nn.BatchNorm1d)"
            )

    def loss_grad(self, X, y, dropout_seed=None, sample_weight=None):
        """Mean loss over the rows of ``X`` and its gradient; the weights are not changed.

        The pass is a training pass (BatchNorm normalises with the statistics
        of ``X``, without updating its running ones).

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
        self._check_batch_norm_rows(X.shape[0], "the data")
        mode = table.TRAIN
        if dropout_seed is not None and self._has_dropout:
            mode |= table.DROPOUT_ON
        key = np.uint64(0) if dropout_seed is None else derive_key(as_seed(dropout_seed))
        ws = Workspace(self.plan, X.shape[0], self.dtype, training=True)
        data = table.Data(X, y2d, labels, sw)
        batch = table.Batch(0, X.shape[0], False, key, mode, True)
        work = ws.bundle(NO_ORDER)

        passes = kernels.PASSES[self.plan.family]

        def loss_grad_into(grad):
            return passes.loss_gradient(self._net(), grad, data, work, batch)[0]

        return loss_grad_into

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
        X = validation.check_features(X, self.plan.n_in, self.dtype, finite=False)
        chunk = min(X.shape[0], PREDICT_CHUNK)
        acts = self._small_buffer() if chunk <= SMALL_PREDICT_ROWS else self._buffer(chunk)
        out = np.empty((X.shape[0], self.plan.n_out), dtype=self.dtype)
        key = (self.plan.family, self.dtype.name)
        # the first predict of a kind in a process may compile (a first run on a machine): it says so on
        # stderr once it has taken a second; later calls skip the watch (one-row predicts take ~13 us)
        with watch_if(key not in _PREDICTED, PREDICT_NOTICE, sys.stderr), using_threads(n_threads):
            finite = kernels.PASSES[self.plan.family].predict(self._net_ref(), acts, X, out)
        _PREDICTED.add(key)
        if not finite:  # checked before any row went through
            raise ValueError(validation.not_finite_message("X", self.dtype))
        return out

    def _buffer(self, rows):
        return np.empty(max(rows, 1) * self.plan.row_width, dtype=self.dtype)

    def _small_buffer(self):
        """This thread's reusable work buffer for predicts of up to SMALL_PREDICT_ROWS rows."""
        local = self.__dict__.get("_scratch")
        if local is None:
            local = self.__dict__.setdefault("_scratch", threading.local())
        acts = getattr(local, "acts", None)
        if acts is None or acts.dtype != self.dtype:
            acts = local.acts = self._buffer(SMALL_PREDICT_ROWS)
        return acts

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
            ws = Workspace(self.plan, rows, self.dtype, training=True, **options)
        if ws.nbytes <= KEPT_WORKSPACE_BYTES:
            self._kept_workspace = (key, ws)
        return ws

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_scratch", None)  # per-thread scratch buffers are not part of the model
        state.pop("_kept_workspace", None)
        state.pop("_bundle", None)
        return state

    def evaluate(self, X, y, batch_size=PREDICT_CHUNK, sample_weight=None):
        """Mean data loss over ``X`` (no dropout, no L2 term, BatchNorm's running statistics).

        Passes of ``batch_size`` rows; with ``sample_weight`` (n,) the mean is weighted.
        """
        batch_size = validation.check_positive_int("batch_size", batch_size)
        X, y2d, labels = self._check_xy(X, y)
        sw = validation.check_sample_weight(sample_weight, X.shape[0])
        return self._evaluate(X, y2d, labels, sw, self._buffer(min(X.shape[0], batch_size)))

    def _evaluate(self, X, y2d, labels, sw, acts):
        capacity = acts.size // self.plan.row_width
        data = table.Data(X, y2d, labels, sw)
        return float(kernels.PASSES[self.plan.family].evaluate_loss(self._net(), acts, data, capacity))

    # ------------------------------------------------------------------ training
    def _check_fit(self, X, y, *, epochs, batch_size, validation_data, lr_schedule, patience, n_threads,
                   sample_weight, clip_norm, checkpoint_every):  # fmt: skip
        """``fit``'s checks of its data and options, made before any work (``fastbp.fit_many`` makes
        them for every network before it trains any).

        Returns ``(epochs, batch_size, checkpoint_every, clip, schedule, (X, y2d, labels, sw),
        (X_val, y_val, labels_val) or None)``, checked.
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
        self._check_batch_norm_rows(
            min(batch_size, X.shape[0]), "every batch" if batch_size == 1 else "the data"
        )
        val = None
        if validation_data is not None:
            if len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (X_val, y_val)")
            val = self._check_xy(*validation_data)
        return epochs, batch_size, checkpoint_every, clip, schedule, (X, y2d, labels, sw), val

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
            uses the mean loss of its batch.  With BatchNorm, a last batch of
            one row is skipped (BatchNorm cannot normalise one row), as
            ``torch.utils.data.DataLoader(drop_last=True)`` would skip it; with
            shuffling it is a different row each epoch.
        optimizer : Optimizer or str, default Adam()
            An optimizer object keeps its state across fits; a name gives a new
            one with its defaults.
        shuffle : bool, default True
            Shuffle the rows each epoch; with False batches are consecutive slices.
            The order of an epoch is a permutation drawn from that epoch's key
            (see ``seed``), so every epoch has its own; ``fastbp.kernels.random``
            documents the draw.  A batch that holds every row is not shuffled:
            its mean loss and gradient do not depend on the order.
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
            loss falling by more than ``min_delta``, and restore the best weights
            (and running statistics).  Needs ``validation_data``.
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
        epochs, batch_size, checkpoint_every, clip, schedule, (X, y2d, labels, sw), val = self._check_fit(
            X, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
            lr_schedule=lr_schedule, patience=patience, n_threads=n_threads, sample_weight=sample_weight,
            clip_norm=clip_norm, checkpoint_every=checkpoint_every,
        )  # fmt: skip
        if val is not None:
            X_val, y_val, labels_val = val
        if resume is not None:
            optimizer, progress, history = checkpoints.restore(
                resume, self, optimizer, schedule, batch_size, shuffle
            )
        else:
            optimizer = get_optimizer(optimizer)
            progress = checkpoints.Progress(
                epoch=0, fit_seed=self.seed if seed is None else as_seed(seed),
                first_epoch=self.epochs_trained if seed is None else 0,
                batch_size=batch_size, shuffle=shuffle,
            )  # fmt: skip
            history = History()

        n = X.shape[0]
        rows = min(batch_size, n)
        # one batch of every row: its mean loss and gradient do not depend on the order of the rows,
        # so it is not shuffled (8% of a 10,000-row 4-32-16-4 epoch went to the shuffle and gather)
        reorder = shuffle and rows < n
        optimizer.bind(self.n_params, self.dtype)
        grad = np.zeros_like(self.params)
        ws = self._fit_workspace(
            rows, gather=reorder, n_targets=0 if labels.size else y2d.shape[1],
            chunk_rows=chunk_rows_for(self.plan, rows), weighted=sw.size > 0,
        )  # fmt: skip
        order = np.empty(n if reorder else 0, dtype=np.int64)
        val_acts = None
        if validation_data is not None:
            val_acts = self._buffer(min(X_val.shape[0], PREDICT_CHUNK))
        blas = not deterministic  # fastbp's own loops give the same bits whatever BLAS does
        run_epoch = self._epoch_runner(grad, optimizer, table.Data(X, y2d, labels, sw), ws, order,
                                       (batch_size, reorder, clip, blas))  # fmt: skip
        callbacks = list(callbacks)
        reporter = None
        if verbose:
            reporter = EpochReporter(epochs, live=False if verbose >= 2 else None, first_epoch=progress.epoch)
            callbacks.append(reporter)

        def validate():
            """(validation loss, accuracy or None) after an epoch, or None without validation data."""
            if val_acts is None:
                return None
            loss = self._evaluate(X_val, y_val, labels_val, NO_WEIGHTS, val_acts)
            accuracy = self._accuracy(X_val, y_val, labels_val) if self.loss in OUTPUTS_OF_LOSS else None
            return loss, accuracy

        loop = training.EpochLoop(
            net=self, run_epoch=run_epoch, validate=validate, optimizer=optimizer, schedule=schedule,
            progress=progress, history=history, epochs=epochs, n_rows=n,
            stopping=training.EarlyStopping(patience, min_delta),
            checkpoints=training.Checkpoints(checkpoint, checkpoint_every, epochs),
            callbacks=callbacks, n_threads=n_threads,
            say_compiling=bool(verbose),
        )  # fmt: skip
        try:
            loop.run()
        finally:
            if reporter is not None:
                reporter.close()
        if progress.best_params is not None:
            self._load_state_vector(progress.best_params)
        return history

    def _epoch_kernel(self, chunked):
        """The compiled epoch this network runs: of its family of passes, chunked or serial, with the
        optimizers' parallel loops when it has PARALLEL_MIN_ELEMENTS parameters or more."""
        parallel_update = self.n_params >= PARALLEL_MIN_ELEMENTS
        return kernels.PASSES[self.plan.family].train_epoch(chunked, parallel_update)

    def _epoch_runner(self, grad, optimizer, data, ws, order, settings):
        """``run(lr, key) -> (summed loss, summed weight, steps, status, failing step)``: one compiled epoch.

        Picks the parallel chunked kernel when the workspace was built for it
        (narrow layers), else the serial one (BLAS, or fastbp's loops when
        ``blas`` is False).
        """
        hyper = optimizer.hyper()
        mode = TRAINING | (table.DROPOUT_ON if self._has_dropout else 0)
        min_rows = 2 if self.plan.has_batch_norm else 1
        batch_size, shuffle, clip, blas = settings
        kernel = self._epoch_kernel(chunked=ws.chunk_rows > 0)
        work = ws.bundle(order)

        def run(lr, key):
            optim = table.Optim(optimizer.kind, hyper, optimizer.state, lr, optimizer.step_count, clip)
            epoch = table.Epoch(batch_size, shuffle, key, mode, blas, min_rows)
            return kernel(self._net(), grad, optim, data, work, epoch)

        return run

    # ------------------------------------------------------------------ files
    def to_onnx(self, path=None, opset=None):
        """This network as an ONNX model, written to ``path`` when given (needs the onnx package).

        Parameters
        ----------
        path : str or os.PathLike, optional
        opset : int, optional
            The ``ai.onnx`` opset: 17 by default (13 at least; LayerNorm needs
            17, and GELU is one ``Gelu`` node from 20).

        Returns
        -------
        onnx.ModelProto
            Input ``"X"`` of shape (N, n_in) and output ``"probabilities"``
            (cross-entropy losses) or ``"predictions"`` of shape (N, n_out),
            in this network's dtype: what ``predict`` gives.
        """
        from . import onnx_export

        model = onnx_export.network_model(self, opset)
        if path is not None:
            onnx_export.save(model, path)
        return model

    def to_torch(self):
        """This network as a ``torch.nn.Sequential`` in eval mode, with its weights (needs torch).

        Dense layers become ``Linear``, norms ``LayerNorm``/``BatchNorm1d``
        (with the running statistics), a residual block a
        ``fastbp.torch_export.Residual`` (an ``nn.Sequential`` whose forward
        is ``x + f(x)``); see ``fastbp.torch_export``.  The module gives the
        last layer's outputs: ``predict``'s softmax or sigmoid of the
        cross-entropy losses is not part of it (PyTorch's losses take logits).
        """
        from . import torch_export

        return torch_export.to_torch(self)

    def save_safetensors(self, path):
        """Write the weights as a safetensors file, the plan in its metadata (needs safetensors).

        Tensor names and layouts are those of ``self.to_torch().state_dict()``,
        so ``module.load_state_dict(safetensors.torch.load_file(path))``
        loads them in PyTorch; ``fastbp.load_safetensors(path)`` rebuilds
        this network without torch.
        """
        from . import safetensors_io

        safetensors_io.save(self, path)

    def save(self, path):
        """Write the network to ``path`` atomically (see ``fastbp.io``)."""
        io.save(self, path)
