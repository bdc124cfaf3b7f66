"""The main demo runs, and prints for the seed notes' snippets exactly what the notes print."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT.parent / "shared" / "seeds" / "000_7162ce42bc0fa33d.txt"

ONES_4x12 = "\n".join(["tensor([[1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.],"]
                      + ["        [1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.],"] * 2
                      + ["        [1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.]])"])
ONES_12x4 = "\n".join(["tensor([[1., 1., 1., 1.],"] + ["        [1., 1., 1., 1.],"] * 10
                      + ["        [1., 1., 1., 1.]])"])


def run_demo() -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py")], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_demo_prints_what_the_seed_notes_print():
    text = run_demo()
    assert "tensor([1., 1., 1.])" in text
    assert "Shape of tensor: torch.Size([3, 4])" in text
    assert "Datatype of tensor: torch.float32" in text
    assert "Device tensor is stored on: cpu" in text
    assert ONES_4x12 in text and ONES_12x4 in text
    assert "True True" in text  # tensor @ tensor.T == tensor.matmul(tensor.T), and the two products
    assert "[2. 2. 2. 2. 2.]" in text  # numpy shares the tensor's memory
    assert "return %" in text  # the pending graph in text form


def test_the_seed_notes_show_those_outputs():
    if not SEED.exists():  # shared/ lies beside the checkout in CI and for developers
        return
    notes = SEED.read_text()
    assert "tensor([1., 1., 1.])" in notes
    assert ONES_4x12.replace("tensor(", "1.tensor(") in notes
    assert ONES_12x4.replace("tensor(", "2.tensor(") in notes
