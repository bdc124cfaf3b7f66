"""Fixtures shared by the llvm backend's tests."""
import pytest

from lazytensor import config


@pytest.fixture
def llvm_private_cache(tmp_path_factory):
    """Run on the llvm backend (whatever LT_BACKEND says) with a kernel cache of this module's own."""
    old = config.get("BACKEND")
    config.set(CACHE_DIR=str(tmp_path_factory.mktemp("kernels")), BACKEND="llvm")
    yield
    config.set(BACKEND=old)
