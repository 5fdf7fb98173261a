"""fastbp.fit_many: each network ends as its own fit would leave it, for any thread count."""

import copy
import time

import numpy as np
import pytest

import fastbp
from fastbp import layers as L
from fastbp.many import Task, run_tasks, runs_alone


def _data(n=240, n_in=6, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_in))
    y = rng.integers(0, k, n)
    return X, y


def _mixed_networks():
    """Different widths, activations, kinds of layer and dtypes; with ``_per_network_options``' batch
    sizes networks 3 and 4 run parallel chunks and network 5 products that BLAS threads (they train alone)."""
    return [
        fastbp.MLP([6, 16, 3], loss="cross_entropy", dtype="float64", seed=1),
        fastbp.MLP(
            [6, 9, 7, 3],
            activation=["tanh", "gelu"],
            loss="cross_entropy",
            dtype="float64",
            seed=2,
            alpha=1e-3,
            dropout=0.1,
        ),  # fmt: skip
        fastbp.Sequential(
            6,
            [L.Dense(12), L.LayerNorm(), L.ReLU(), L.Residual(L.Dense(12), L.SiLU()), L.Dense(3)],
            loss="cross_entropy",
            dtype="float64",
            seed=3,
        ),  # fmt: skip
        fastbp.Sequential(
            6,
            [L.Dense(10), L.BatchNorm(), L.Tanh(), L.Dropout(0.2), L.Dense(3)],
            loss="cross_entropy",
            dtype="float64",
            seed=4,
        ),  # fmt: skip
        fastbp.MLP([6, 8, 3], loss="cross_entropy", dtype="float32", seed=5),
        fastbp.MLP([6, 4096, 3], loss="cross_entropy", dtype="float64", seed=6),  # 240 x 6 x 4096 > SPLIT_MAX
    ]


def _per_network_options(nets):
    return {
        "epochs": [3, 2, 3, 2, 3, 1],
        "batch_size": [32, 50, 16, 64, 128, 240],
        "optimizer": [fastbp.Adam(lr=1e-2), fastbp.SGD(lr=0.05, momentum=0.9, nesterov=True),
                      fastbp.RMSprop(lr=1e-3), fastbp.AdamW(lr=1e-2), "adagrad", fastbp.Adam(lr=1e-3)],
        "lr_schedule": [None, "cosine", "exponential", None, None, None],
        "seed": [None, 7, None, 11, None, None],
    }  # fmt: skip


def _alone_fits(nets, X, y, rows, options, shared=None):
    """What each network's own fit gives: copies of ``nets`` trained one by one."""
    shared = shared or {}
    solo, histories = [], []
    for k, net in enumerate(nets):
        net = copy.deepcopy(net)
        opts = {name: copy.deepcopy(values[k]) for name, values in options.items()}
        r = slice(None) if rows is None or rows[k] is None else rows[k]
        histories.append(net.fit(X[r], y[r], **opts, **shared))
        solo.append(net)
    return solo, histories


def _assert_same(nets, solo, histories, solo_histories):
    for k, (a, b) in enumerate(zip(nets, solo)):
        assert np.array_equal(a.params, b.params), f"network {k}"
        assert np.array_equal(a.running_stats, b.running_stats), f"network {k}"
        assert a.epochs_trained == b.epochs_trained
    for h, g in zip(histories, solo_histories):
        assert h.loss == g.loss and h.val_loss == g.val_loss and h.lr == g.lr


def test_which_networks_train_alone():
    nets = _mixed_networks()
    batches = _per_network_options(nets)["batch_size"]
    assert [runs_alone(net, b) for net, b in zip(nets, batches)] == [False] * 3 + [True] * 3
    narrow = fastbp.MLP([4, 32, 16, 4])
    assert runs_alone(narrow, 10_000) and not runs_alone(narrow, 32)  # parallel chunks from 64 rows


@pytest.mark.parametrize("n_threads", [1, 2])
def test_each_network_ends_as_its_own_fit_with_its_own_rows_and_options(n_threads):
    X, y = _data()
    nets = _mixed_networks()
    rng = np.random.default_rng(1)
    mask = rng.random(len(X)) < 0.6
    rows = [None, np.arange(0, 240, 2), rng.integers(0, 240, 240), mask, np.arange(100), None]
    options = _per_network_options(nets)
    solo, solo_histories = _alone_fits(nets, X, y, [None if r is None else r for r in rows], options)
    histories = fastbp.fit_many(nets, X, y, rows=rows, n_threads=n_threads, **options)
    assert len(histories) == len(nets) and all(isinstance(h, fastbp.History) for h in histories)
    _assert_same(nets, solo, histories, solo_histories)


def test_results_do_not_depend_on_the_thread_count():
    X, y = _data()
    runs = []
    for n_threads in (1, 2):
        nets = _mixed_networks()
        fastbp.fit_many(nets, X, y, epochs=2, batch_size=40, n_threads=n_threads, seed=3)
        runs.append([net.params.copy() for net in nets])
    assert all(np.array_equal(a, b) for a, b in zip(*runs))


def test_one_optimizer_and_one_schedule_are_copied_for_each_network_and_left_untouched():
    X, y = _data()
    nets = [fastbp.MLP([6, 8, 3], loss="cross_entropy", dtype="float64", seed=s) for s in range(3)]
    opt, schedule = fastbp.SGD(lr=0.1, momentum=0.5), fastbp.schedules.ReduceOnPlateau(factor=0.5, patience=0)
    given = {"optimizer": [opt] * 3, "lr_schedule": [schedule] * 3}
    solo, solo_histories = _alone_fits(nets, X, y, None, given, {"epochs": 3})
    histories = fastbp.fit_many(nets, X, y, epochs=3, optimizer=opt, lr_schedule=schedule)
    _assert_same(nets, solo, histories, solo_histories)
    assert opt.state is None and opt.step_count == 0


def test_each_network_stops_early_on_its_own():
    X, y = _data(n=300)
    Xv, yv = _data(n=80, seed=9)
    nets = [fastbp.MLP([6, 32, 3], loss="cross_entropy", dtype="float64", seed=s) for s in range(4)]
    options = {
        "optimizer": [fastbp.Adam(lr=lr) for lr in (0.3, 0.05, 0.01, 0.3)],
        "patience": [1, 2, 3, None],
    }
    shared = {"epochs": 25, "validation_data": (Xv, yv), "batch_size": 16}
    solo, solo_histories = _alone_fits(nets, X, y, None, options, shared)
    histories = fastbp.fit_many(nets, X, y, **options, **shared)
    _assert_same(nets, solo, histories, solo_histories)
    stopped = [h.stopped_early for h in histories]
    assert any(stopped) and not stopped[3] and len(histories[3].loss) == 25
    assert len({len(h.loss) for h in histories}) > 1  # they stopped at different epochs
    for h in histories[:3]:
        if h.stopped_early:
            assert h.best_epoch is not None and len(h.loss) < 25


def test_per_network_validation_data_sample_weights_and_callbacks():
    X, y = _data()
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(X))
    rows = [np.arange(120), np.arange(120, 240)]
    val = [(X[120:], y[120:]), (X[:120], y[:120])]  # each network's held-out fold
    seen = [[], []]
    callbacks = [[lambda info: seen[0].append(info["epoch"])], [lambda info: seen[1].append(info["epoch"])]]
    nets = [fastbp.MLP([6, 8, 3], loss="cross_entropy", dtype="float64", seed=s) for s in range(2)]
    solo = copy.deepcopy(nets)
    solo_histories = [solo[k].fit(X[r], y[r], epochs=3, validation_data=val[k], sample_weight=w[r])
                      for k, r in enumerate(rows)]  # fmt: skip
    histories = fastbp.fit_many(nets, X, y, rows=rows, epochs=3, validation_data=val, sample_weight=w,
                                callbacks=callbacks)  # fmt: skip
    _assert_same(nets, solo, histories, solo_histories)
    assert seen == [[0, 1, 2], [0, 1, 2]]
    per_network = [w[r] for r in rows]  # the same weights, given per network
    again = [fastbp.MLP([6, 8, 3], loss="cross_entropy", dtype="float64", seed=s) for s in range(2)]
    fastbp.fit_many(again, X, y, rows=rows, epochs=3, validation_data=val, sample_weight=per_network)
    assert all(np.array_equal(a.params, b.params) for a, b in zip(again, nets))


def test_a_diverging_network_is_named_and_the_others_still_train():
    X, y = _data()
    X = X * 1e3
    nets = [fastbp.MLP([6, 8, 3], loss="cross_entropy", dtype="float32", seed=s) for s in range(3)]
    optimizers = [fastbp.Adam(lr=1e-3), fastbp.SGD(lr=1e30), fastbp.Adam(lr=1e-3)]
    solo, _ = _alone_fits([nets[0], nets[2]], X, y, None, {"optimizer": [optimizers[0], optimizers[2]]})
    with pytest.raises(fastbp.TrainingDiverged, match="^network 1: training diverged") as info:
        fastbp.fit_many(nets, X, y, optimizer=optimizers, epochs=10)
    assert info.value.network == 1
    assert np.array_equal(nets[0].params, solo[0].params) and np.array_equal(nets[2].params, solo[1].params)
    assert np.isfinite(nets[1].params).all()


def _untrained(nets):
    return [net.params.copy() for net in nets]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epochs": [1, 2]}, "epochs: a list of 2 values for 3 networks"),
        ({"batch_size": [8, 0, 8]}, "network 1: batch_size must be a positive integer"),
        ({"rows": [None, None, np.array([0, 240])]}, r"network 2: rows holds indices outside 0\.\.239"),
        ({"rows": [None, np.zeros(5, dtype=bool), None]}, r"network 1: a boolean rows mask must have shape"),
        ({"rows": [None, np.array([], dtype=int), None]}, "network 1: rows selects no row"),
        ({"rows": [None, None]}, "one index array"),
        ({"validation_data": [None, None, (np.zeros((4, 5)), np.zeros(4, int))]},
         "network 2: X has 5 features, the network expects 6"),
        ({"patience": [None, 2, None]}, "network 1: early stopping"),
        ({"checkpoint": "one.ckpt"}, "checkpoint: give a list with one path"),
        ({"checkpoint": ["a.ckpt", None, "./a.ckpt"]}, "checkpoint: the same path twice"),
        ({"lr_schedule": [None, "sometimes", None]}, "network 1: unknown lr_schedule"),
        ({"optimizer": ["adam", "adam", "nadam"]}, "network 2: unknown optimizer"),
        ({"n_threads": 0}, "n_threads must be a positive integer"),
        ({"verbose": -1}, "verbose must be an integer >= 0"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_any_network_trains_and_names_the_network(change, message):
    X, y = _data()
    nets = [fastbp.MLP([6, 8, 3], loss="cross_entropy", dtype="float64", seed=s) for s in range(3)]
    before = _untrained(nets)
    with pytest.raises((ValueError, TypeError), match=message):
        fastbp.fit_many(nets, X, y, **change)
    assert all(np.array_equal(a, b.params) for a, b in zip(before, nets))
    assert all(net.epochs_trained == 0 for net in nets)


def test_networks_that_do_not_fit_the_data_are_named():
    X, y = _data()
    nets = [fastbp.MLP([6, 8, 3], loss="cross_entropy"), fastbp.MLP([5, 8, 3], loss="cross_entropy")]
    with pytest.raises(ValueError, match="network 1: X has 6 features, the network expects 5"):
        fastbp.fit_many(nets, X, y)
    nets = [fastbp.MLP([6, 8, 3], loss="cross_entropy"), fastbp.MLP([6, 8, 2], loss="cross_entropy")]
    with pytest.raises(ValueError, match="network 1: .*label"):
        fastbp.fit_many(nets, X, y)
    with pytest.raises(TypeError, match="network 1: expected a fastbp Sequential"):
        fastbp.fit_many([nets[0], "mlp"], X, y)
    with pytest.raises(ValueError, match="network 1 is network 0 again"):
        fastbp.fit_many([nets[0], nets[0]], X, y)
    opt = fastbp.Adam()
    with pytest.raises(ValueError, match="optimizer: the same object twice"):
        fastbp.fit_many(nets, X, y, optimizer=[opt, opt])
    with pytest.raises(ValueError, match="at least one network"):
        fastbp.fit_many([], X, y)


def test_checkpoints_per_network_resume_each_fit(tmp_path):
    X, y = _data()
    paths = [tmp_path / f"net{k}.ckpt" for k in range(2)]
    nets = [fastbp.MLP([6, 8, 3], loss="cross_entropy", dtype="float64", seed=s) for s in range(2)]
    whole = copy.deepcopy(nets)
    fastbp.fit_many(whole, X, y, epochs=4, optimizer=[fastbp.Adam(), fastbp.Adam()])
    fastbp.fit_many(nets, X, y, epochs=2, checkpoint=paths, optimizer=[fastbp.Adam(), fastbp.Adam()])
    resumed = [fastbp.load(p) for p in paths]
    fastbp.fit_many(resumed, X, y, epochs=4, resume=paths)
    assert all(np.array_equal(a.params, b.params) for a, b in zip(resumed, whole))


def test_verbose_prints_a_line_per_finished_network(capsys):
    X, y = _data()
    nets = [fastbp.MLP([6, 8, 3], loss="cross_entropy", seed=s) for s in range(2)]
    fastbp.fit_many(nets, X, y, epochs=2, verbose=1, validation_data=(X, y))
    out = sorted(capsys.readouterr().out.splitlines())
    assert len(out) == 2 and out[0].startswith("network 0: 2 epochs, loss ") and "val_loss" in out[0]


def test_ctrl_c_in_a_worker_stops_the_run_and_the_networks_not_started_never_start():
    started = []

    def interrupted():
        raise KeyboardInterrupt

    def quick(k):
        started.append(k)
        time.sleep(0.02)

    tasks = [Task(0, interrupted, False, 100.0)]
    tasks += [Task(k, lambda k=k: quick(k), False, 1.0) for k in range(1, 40)]
    with pytest.raises(KeyboardInterrupt):
        run_tasks(tasks, n_threads=2)
    assert len(started) < 39 and tasks[0].error is None  # not caught as a network's failure
