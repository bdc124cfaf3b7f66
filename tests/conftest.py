"""Shared pytest setup: every test starts with default knobs, default dtype and print options."""
import os
import shutil
import tempfile

import pytest

# Compiled kernels go to a cache folder of this test run, never the user's ~/.cache/lazytensor
# (unless LT_CACHE_DIR names one); the run removes its own folder when it ends.
_RUN_CACHE = None
if "LT_CACHE_DIR" not in os.environ:
    _RUN_CACHE = os.environ["LT_CACHE_DIR"] = tempfile.mkdtemp(prefix="lt-test-kernels-")

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


def pytest_sessionfinish(session, exitstatus):
    """Remove this run's kernel cache folder (a full run leaves tens of MB of object files)."""
    if _RUN_CACHE is not None:
        shutil.rmtree(_RUN_CACHE, ignore_errors=True)
