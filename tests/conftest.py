"""Shared pytest setup: every test starts with default knobs, default dtype and print options."""
import os
import tempfile

import pytest

# Compiled kernels go to a cache folder of this test run, never the user's ~/.cache/lazytensor.
os.environ.setdefault("LT_CACHE_DIR", tempfile.mkdtemp(prefix="lt-test-kernels-"))

import lazytensor as lt
from lazytensor import config


@pytest.fixture(autouse=True)
def _fresh_state():
    config.reset()
    lt.set_default_dtype(lt.float32)
    yield
    config.reset()
    lt.set_default_dtype(lt.float32)
    lt.set_printoptions(profile="default")
