from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fake_lms import FakeLMStudio

# litellm fetches a model cost map from GitHub when imported, unless told not to; nothing leaves
# loopback, whichever test (or client library) imports it first
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(autouse=True, scope="session")
def _leases_of_this_test_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The plugin runs these tests start keep their leases (pytest_lmstudio/leases.py) in this
    run's temporary folder, not in the machine's shared one."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PYTEST_LMSTUDIO_LEASE_DIR", str(tmp_path_factory.mktemp("leases")))
    yield
    mp.undo()


@pytest.fixture
def fake() -> Iterator[FakeLMStudio]:
    """A fresh in-process fake LM Studio with the default catalog."""
    with FakeLMStudio() as server:
        yield server
