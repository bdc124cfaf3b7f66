"""The main demo: the tensor snippets of the "Everything PyTorch" notes, run lazily.

    python examples/demo.py

Each section prints what PyTorch prints for the same code; the last one shows the pending graph
that lazytensor builds before anything is computed.
"""
import numpy as np

import lazytensor as torch  # the notes' code, unchanged
from lazytensor.compiler.text import print_graph


def section(title: str) -> None:
    print(f"\n# {title}")


section("A tensor of ones")
a = torch.ones(3)
print(a)

section("Attributes of a tensor")
tensor = torch.rand(3, 4)
print(f"Shape of tensor: {tensor.shape}")
print(f"Datatype of tensor: {tensor.dtype}")
print(f"Device tensor is stored on: {tensor.device}")

section("Joining tensors")
tensor = torch.ones(4, 4)
print(torch.cat([tensor, tensor, tensor], dim=1))
print(torch.cat([tensor, tensor, tensor], dim=0))

section("Matrix and elementwise products")
y1 = tensor @ tensor.T
y2 = tensor.matmul(tensor.T)
z1 = tensor * tensor
z2 = tensor.mul(tensor)
print(y1)
print(torch.equal(y1, y2), torch.equal(z1, z2))

section("Tabular data: all columns but the last, and the last")
wineq = torch.tensor([[7.4, 0.70, 0.00, 5.0], [7.8, 0.88, 0.00, 5.0], [11.2, 0.28, 0.56, 6.0]])
data = wineq[:, :-1]
target = wineq[:, -1]
print(data.shape, target)

section("Tensors on the CPU and numpy arrays share memory")
t = torch.ones(5)
n = t.numpy()
t.add_(1)
print(t)
print(n)
n2 = np.ones(3, dtype=np.float32)
t2 = torch.from_numpy(n2)
np.add(n2, 1, out=n2)
print(t2)

section("Laziness: the graph waiting to run")
x = torch.arange(6.0).reshape(2, 3)
w = torch.full((3,), 0.5)
y = ((x * w).exp() + 1).sum(dim=1)
print(print_graph([y.node]))
print(y)  # observing it runs the graph
