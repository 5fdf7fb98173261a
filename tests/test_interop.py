"""PyTorch in and out and safetensors files: the same predictions to rounding, the same weights back,
and clear refusals."""

import numpy as np
import pytest

import fastbp
from fastbp import layers as L
from fastbp.kernels.activations import ACTIVATIONS
from fastbp.state_dict import state_dict

torch = pytest.importorskip("torch")
nn = torch.nn


def _perturbed(net, seed=0):
    rng = np.random.default_rng(seed)
    net.params[:] = rng.normal(scale=0.5, size=net.n_params)
    for name, view in net.buffers():
        view[:] = rng.uniform(0.5, 2.0, view.shape) if name.endswith("var") else rng.normal(size=view.shape)
    return net


def _every_layer(dtype, loss="cross_entropy"):
    acts = [L.ACTIVATION_LAYERS[name]() for name in sorted(ACTIVATIONS)]
    layers = [
        L.Dense(7), L.BatchNorm(momentum=0.2, eps=1e-3), *acts[:5], L.Dropout(0.25),
        L.Residual(L.Dense(7, bias=False), L.LayerNorm(eps=1e-4), *acts[5:],
                   L.Residual(L.Dense(7), L.Tanh())),
        L.Dense(3),
    ]  # fmt: skip
    return _perturbed(fastbp.Sequential(5, layers, loss=loss, dtype=dtype, seed=0))


def _torch_predict(module, X, loss):
    with torch.no_grad():
        out = module(torch.from_numpy(X))
    if loss == "cross_entropy":
        out = torch.softmax(out, dim=1)
    elif loss == "binary_cross_entropy":
        out = torch.sigmoid(out)
    return out.numpy()


TOLERANCE = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-9, "atol": 1e-12}}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy", "mse"])
def test_to_torch_predicts_as_fastbp_and_from_torch_gives_the_same_network_back(dtype, loss):
    net = _every_layer(dtype, loss)
    X = np.random.default_rng(1).normal(size=(19, 5)).astype(dtype)
    module = net.to_torch()
    assert not module.training and next(module.parameters()).dtype == getattr(torch, dtype)
    np.testing.assert_allclose(_torch_predict(module, X, loss), net.predict(X), **TOLERANCE[dtype])
    back = fastbp.from_torch(module, loss=loss)
    assert back.layers == net.layers and back.dtype == net.dtype
    assert np.array_equal(back.params, net.params) and np.array_equal(back.running_stats, net.running_stats)
    assert np.array_equal(back.predict(X), net.predict(X))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_module_trained_in_torch_predicts_the_same_in_fastbp_and_trains_on(dtype):
    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Linear(6, 10), nn.BatchNorm1d(10, momentum=0.3), nn.GELU(),
        nn.Sequential(nn.Linear(10, 10), nn.SiLU(), nn.Dropout(0.1)),  # nested: opened in place
        nn.LayerNorm(10), nn.Softplus(), nn.Linear(10, 4),
    ).to(getattr(torch, dtype))  # fmt: skip
    X = np.random.default_rng(2).normal(size=(64, 6)).astype(dtype)
    y = np.random.default_rng(3).integers(0, 4, 64)
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(5):  # moves the weights and the running statistics
        opt.zero_grad()
        nn.functional.cross_entropy(module(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        opt.step()
    module.eval()
    net = fastbp.from_torch(module, loss="cross_entropy")
    assert [type(layer).__name__ for layer in net.layers] == [
        "Dense", "BatchNorm", "GELU", "Dense", "SiLU", "Dropout", "LayerNorm", "Softplus", "Dense",
    ]  # fmt: skip
    np.testing.assert_allclose(net.predict(X), _torch_predict(module, X, "cross_entropy"), **TOLERANCE[dtype])
    before = net.params.copy()
    net.fit(X, y, epochs=1, batch_size=16)
    assert np.isfinite(net.params).all() and not np.array_equal(before, net.params)


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (nn.Sequential(nn.Linear(3, 4), nn.Conv1d(1, 1, 1)), r"1: Conv1d has no fastbp layer; supported"),
        (nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.ReLU(), nn.PReLU())), r"1\.1: PReLU has no fastbp"),
        (nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2)), r"1: LeakyReLU with negative_slope=0\.2"),
        (nn.Sequential(nn.Linear(3, 4), nn.GELU("tanh")), "approximate='tanh'"),
        (nn.Sequential(nn.Linear(3, 4), nn.Softplus(beta=2)), "Softplus"),
        (nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1)), "leave the final Softmax out"),
        (nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=None)), "momentum"),
        (nn.Sequential(nn.Linear(3, 4), nn.LayerNorm([2, 2])), "LayerNorm over"),
        (nn.Sequential(nn.ReLU()), "input width"),
        (nn.Linear(3, 4), "takes a torch.nn.Sequential"),
        (nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2).double()), "must all be float32 or all float64"),
    ],
)  # fmt: skip
def test_modules_without_a_fastbp_layer_are_refused_by_name(module, message):
    with pytest.raises(ValueError, match=message):
        fastbp.from_torch(module)


# ---------------------------------------------------------------- safetensors


@pytest.mark.parametrize("make", ["sequential", "mlp"])
def test_safetensors_round_trip_and_pytorch_reads_the_state_dict_without_pickle(make, tmp_path):
    pytest.importorskip("safetensors")
    from safetensors.torch import load_file

    if make == "mlp":
        mlp = fastbp.MLP([4, 9, 9, 2], activation="tanh", loss="mse", norm="batch", dtype="float64")
        net = _perturbed(mlp)
    else:
        net = _every_layer("float32")
    net.epochs_trained = 3
    path = tmp_path / "net.safetensors"
    net.save_safetensors(path)
    back = fastbp.load_safetensors(path)
    assert type(back) is type(net) and back.layers == net.layers and back.epochs_trained == 3
    assert np.array_equal(back.params, net.params) and np.array_equal(back.running_stats, net.running_stats)
    module = net.to_torch()
    tensors = load_file(path)
    assert {k: tuple(v.shape) for k, v in tensors.items()} == {
        k: tuple(v.shape) for k, v in module.state_dict().items()
    }
    other = _perturbed(net.copy(), seed=9).to_torch()
    other.load_state_dict(tensors)  # strict: every name and shape
    X = np.random.default_rng(4).normal(size=(8, net.plan.n_in)).astype(net.dtype)
    with torch.no_grad():
        np.testing.assert_array_equal(other(torch.from_numpy(X)).numpy(), module(torch.from_numpy(X)).numpy())


def test_safetensors_files_that_do_not_hold_a_network_are_refused(tmp_path):
    pytest.importorskip("safetensors")
    from safetensors.numpy import save_file

    net = fastbp.MLP([3, 4, 2], dtype="float64")
    plain = tmp_path / "plain.safetensors"
    save_file({"0.weight": np.zeros((4, 3))}, plain)
    with pytest.raises(fastbp.ModelFileError, match="without fastbp's metadata"):
        fastbp.load_safetensors(plain)
    good = tmp_path / "good.safetensors"
    net.save_safetensors(good)
    from safetensors import safe_open

    with safe_open(good, framework="numpy") as f:
        metadata = f.metadata()
    tensors = state_dict(net)
    for change, message in [
        ({"2.weight": np.zeros((3, 4))}, r"'2\.weight' has shape \(3, 4\), the network needs \(2, 4\)"),
        ({"0.bias": np.full(4, np.nan)}, "NaN"),
        ({"9.weight": np.zeros(2)}, "not a tensor of the network"),
        ({"2.weight": np.zeros((2, 4), dtype=np.int64)}, "holds I64, not float"),
    ]:
        bad = tmp_path / "bad.safetensors"
        save_file({**tensors, **change}, bad, metadata=metadata)
        with pytest.raises(fastbp.ModelFileError, match=message):
            fastbp.load_safetensors(bad)
    save_file(tensors, tmp_path / "meta.safetensors", metadata={"fastbp": '{"config": {"class": "Rocket"}}'})
    with pytest.raises(fastbp.ModelFileError, match="no valid network"):
        fastbp.load_safetensors(tmp_path / "meta.safetensors")
    import json

    huge = {"config": {"class": "MLP", "sizes": [2, 100_000, 100_000, 1]}}  # 10^10 weights, a tiny file
    save_file(
        {"0.weight": np.zeros((1, 1))}, tmp_path / "huge.safetensors", metadata={"fastbp": json.dumps(huge)}
    )
    with pytest.raises(fastbp.ModelFileError, match="has shape"):  # refused before anything is allocated
        fastbp.load_safetensors(tmp_path / "huge.safetensors")
    lots = {**json.loads(metadata["fastbp"]), "epochs_trained": "lots"}
    save_file(tensors, tmp_path / "lots.safetensors", metadata={"fastbp": json.dumps(lots)})
    with pytest.raises(fastbp.ModelFileError, match="epochs_trained must be an integer"):
        fastbp.load_safetensors(tmp_path / "lots.safetensors")
    from safetensors.torch import save_file as save_torch_file

    save_torch_file(
        {"w": torch.zeros(2, dtype=torch.bfloat16)}, tmp_path / "bf16.safetensors"
    )  # a common checkpoint
    with pytest.raises(fastbp.ModelFileError, match="without fastbp's metadata"):
        fastbp.load_safetensors(tmp_path / "bf16.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x10" * 40)
    with pytest.raises(fastbp.ModelFileError, match="not a readable safetensors file"):
        fastbp.load_safetensors(tmp_path / "junk.safetensors")
