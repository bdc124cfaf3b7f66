"""Fixtures shared by the llvm backend's tests."""
import pytest

from lazytensor import config
from lazytensor.runtime.llvm import backend as llvm_backend


@pytest.fixture
def llvm_private_cache(tmp_path_factory):
    """Run on the llvm backend (whatever LT_BACKEND says) with a kernel cache of this module's own."""
    old = config.get("BACKEND")
    config.set(CACHE_DIR=str(tmp_path_factory.mktemp("kernels")), BACKEND="llvm")
    yield
    config.set(BACKEND=old)


@pytest.fixture
def fresh_o3_kernels(monkeypatch):
    """Kernels compiled at O3 as big ones are (LT_FAST_COMPILE=0), into a kernel cache and plan
    table of the test's own: for tests that lower a size threshold, so that no kernel compiled
    under it is reused by another test."""
    monkeypatch.setattr(llvm_backend, "_cache", {})
    monkeypatch.setattr(llvm_backend, "_plans", type(llvm_backend._plans)())
    old = config.get("FAST_COMPILE")
    config.set(FAST_COMPILE=0)
    yield
    config.set(FAST_COMPILE=old)
