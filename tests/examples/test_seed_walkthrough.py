"""The seed walk-through runs every snippet and prints what the notes print."""
import pathlib
import subprocess
import sys

from lt_testing import SEED_MODEL_REPR

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_walkthrough_prints_the_notes_outputs():
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "seed_walkthrough.py")], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    assert "tensor([1., 1., 1.])" in out
    assert SEED_MODEL_REPR in out
    assert "tensor([[1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.]," in out
    assert "Gradient function for loss = <BinaryCrossEntropyWithLogitsBackward0" in out
    assert "Feature batch shape: torch.Size([64, 28, 28])" in out
