"""The seed walk-through runs every snippet and prints what the notes print."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]

NOTES_MODEL = """NeuralNetwork(
  (flatten): Flatten(start_dim=1, end_dim=-1)
  (linear_relu_stack): Sequential(
    (0): Linear(in_features=784, out_features=512, bias=True)
    (1): ReLU()
    (2): Linear(in_features=512, out_features=512, bias=True)
    (3): ReLU()
    (4): Linear(in_features=512, out_features=10, bias=True)
  )
)"""


def test_walkthrough_prints_the_notes_outputs():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "seed_walkthrough.py")], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    assert "tensor([1., 1., 1.])" in out
    assert NOTES_MODEL in out
    assert "tensor([[1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.]," in out
    assert "Gradient function for loss = <BinaryCrossEntropyWithLogitsBackward0" in out
    assert "Feature batch shape: torch.Size([64, 28, 28])" in out
