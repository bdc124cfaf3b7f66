"""Shared pytest setup: every test starts with default knobs, default dtype and print options."""
import pytest

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
