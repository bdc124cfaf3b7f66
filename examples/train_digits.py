"""Train the seed notes' model (Flatten + 784-512-512-10 MLP) on a real dataset, with lazytensor and,
where installed, PyTorch on the same data, batches, initial weights and epochs.

    pip install -e .[examples]        # scikit-learn: its bundled 8x8 digits (no download)
    python examples/train_digits.py [--epochs 5] [--no-torch]

The 1797 handwritten digits of scikit-learn (8x8, values 0..16) are scaled to [0, 1], upsampled 3x
(24x24) and padded to 28x28 so that the seed's 784-input model applies unchanged. 80% train, 20% test,
split and shuffled by a fixed numpy seed shared by both libraries.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm

import lazytensor as lt


def load_digits_28x28(seed: int = 0):
    """(train_x, train_y, test_x, test_y) as float32 (N, 28, 28) images and int64 labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise SystemExit("this example needs scikit-learn: pip install -e .[examples]") from exc
    digits = load_digits()
    images = digits.images.astype(np.float32) / 16.0
    images = images.repeat(3, axis=1).repeat(3, axis=2)  # 24x24
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))  # 28x28
    labels = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(labels))
    images, labels = images[order], labels[order]
    n_train = int(0.8 * len(labels))
    return images[:n_train], labels[:n_train], images[n_train:], labels[n_train:]


def make_model(nn):
    """The seed notes' NeuralNetwork, over `nn` (lt.nn or torch.nn)."""
    class NeuralNetwork(nn.Module):
        def __init__(self):
            super().__init__()
            self.flatten = nn.Flatten()
            self.linear_relu_stack = nn.Sequential(
                nn.Linear(28 * 28, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))

        def forward(self, x):
            return self.linear_relu_stack(self.flatten(x))
    return NeuralNetwork()


def train(lib, name: str, data, init_state: dict, epochs: int, batch_size: int, lr: float, seed: int) -> dict:
    """Train with `lib` (lazytensor or torch); returns final test accuracy and mean seconds per step."""
    train_x, train_y, test_x, test_y = data
    model = make_model(lib.nn)
    model.load_state_dict({k: lib.tensor(v) for k, v in init_state.items()})
    loss_fn = lib.nn.CrossEntropyLoss()
    optimizer = lib.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    rng = np.random.default_rng(seed)
    step_times, acc = [], 0.0
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(train_y))
        batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
        total_loss = 0.0
        bar = tqdm(batches, desc=f"{name} epoch {epoch + 1}/{epochs}", leave=False)
        for idx in bar:
            start = time.perf_counter()
            x, y = lib.tensor(train_x[idx]), lib.tensor(train_y[idx])
            loss = loss_fn(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if lib is lt:
                # One flush for the loss and the updated parameters. Observing only the loss would leave
                # the updates pending, and each later loss would recompute the whole chain of updates
                # since the last flush (lazy.realize stores only what it is asked for; see the note).
                lt.realize(loss, *model.parameters())
            value = loss.item()
            step_times.append(time.perf_counter() - start)
            total_loss += value * len(idx)
            bar.set_postfix(loss=f"{value:.4f}")
        model.eval()
        with lib.no_grad():
            pred = model(lib.tensor(test_x)).argmax(1)
            acc = 100.0 * float((pred == lib.tensor(test_y)).float().mean())
        print(f"{name} epoch {epoch + 1}: train loss {total_loss / len(train_y):.4f}, test accuracy {acc:.2f}%")
    # the first steps include one-time costs (kernel compilation, caches): report the steady state too
    steady = step_times[len(step_times) // 5:] or step_times
    return {"accuracy": acc, "step_ms": 1000 * float(np.mean(step_times)), "steady_step_ms": 1000 * float(np.mean(steady))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-torch", action="store_true", help="do not run the PyTorch comparison")
    args = parser.parse_args()

    data = load_digits_28x28(args.seed)
    print(f"digits: {len(data[1])} train and {len(data[3])} test images of 28x28")
    # one initialisation for both libraries: lazytensor's default init, copied to torch through numpy
    lt.manual_seed(args.seed)
    init_state = {k: v.numpy().copy() for k, v in make_model(lt.nn).state_dict().items()}

    results = {"lazytensor": train(lt, "lazytensor", data, init_state, args.epochs, args.batch_size, args.lr,
                                   args.seed)}
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            print("PyTorch is not installed: no comparison")
        else:
            torch.manual_seed(args.seed)
            torch.set_num_threads(max(1, torch.get_num_threads()))
            results["pytorch"] = train(torch, "pytorch", data, init_state, args.epochs, args.batch_size, args.lr,
                                       args.seed)
    print()
    for name, r in results.items():
        print(f"{name:>10}: test accuracy {r['accuracy']:.2f}%, {r['step_ms']:.2f} ms/step "
              f"(steady state {r['steady_step_ms']:.2f} ms/step)")
    if len(results) == 2:
        gap = abs(results["lazytensor"]["accuracy"] - results["pytorch"]["accuracy"])
        print(f"accuracy difference: {gap:.2f} points")


if __name__ == "__main__":
    main()
