"""examples/custom_image_dataset.py runs: batches of every image, in shared memory, repeatable."""
import importlib.util
import multiprocessing as mp
import os

import numpy as np

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "custom_image_dataset.py")


def _example():
    spec = importlib.util.spec_from_file_location("custom_image_dataset", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_custom_image_dataset_example(capsys):
    batches = _example().main()
    out = capsys.readouterr().out
    assert out.count("Feature batch shape: (8, 3, 16, 16)") == 3
    labels = sorted(sum((b[1].tolist() for b in batches), []))
    assert labels == sorted(i % 10 for i in range(24))
    for images, _ in batches:
        values = images.numpy()
        assert values.dtype == np.float32 and 0.0 <= values.min() and values.max() <= 1.0
    again = _example().main()  # same generator seed: same order and same random flips
    for (a, la), (b, lb) in zip(batches, again):
        assert la.tolist() == lb.tolist()
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert mp.active_children() == []
