"""The network from the PyTorch example in the project's seed documents, in fastbp.

    fc1 = nn.Linear(10, 5); relu; fc2 = nn.Linear(5, 1)
    criterion = nn.MSELoss(); optimizer = SGD(lr=0.01)
    one forward pass, loss.backward(), optimizer.step() on a random (1, 10) input

Run: python examples/seed_pytorch_network.py
"""

import numpy as np

import fastbp


def main(seed=0, verbose=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(1, 10)).astype(np.float32)  # input = torch.randn(1, 10)
    target = rng.normal(size=(1, 1)).astype(np.float32)  # target = torch.randn(1, 1)

    net = fastbp.MLP([10, 5, 1], activation="relu", loss="mse", seed=seed)
    before = net.params.copy()
    loss, grad = net.loss_grad(x, target)  # forward pass, loss and backward pass
    net.fit(x, target, epochs=1, batch_size=1, optimizer=fastbp.SGD(lr=0.01), shuffle=False)  # one step
    after_loss, _ = net.loss_grad(x, target)
    if verbose:
        print(f"network {net.sizes}, {net.n_params} parameters")
        print(f"loss before the step {loss:.6f}, after {after_loss:.6f}")
        print(
            f"largest weight change {np.abs(net.params - before).max():.3e} (lr * |grad| max = "
            f"{0.01 * np.abs(grad).max():.3e})"
        )
    return {
        "x": x,
        "target": target,
        "before": before,
        "grad": grad,
        "after": net.params.copy(),
        "loss": loss,
        "after_loss": after_loss,
    }


if __name__ == "__main__":
    main()
