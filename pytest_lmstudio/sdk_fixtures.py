"""Fixtures for the official ``lmstudio`` Python SDK, bound to the run's LM Studio (live or fake).

The SDK talks to LM Studio over websockets on the same port as the REST API; the bundled fake
serves that protocol too. The fixtures skip the test when ``lmstudio`` is not installed.
Loaded by the pytest-lmstudio plugin.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from pytest_lmstudio.server import LMStudioServer


def api_host(url: str) -> str:
    """``host:port`` as the SDK takes it (it adds the scheme itself) from a server root URL."""
    return urlsplit(url).netloc or url


def _import_sdk(fixture: str) -> Any:
    return pytest.importorskip(
        "lmstudio", reason=f"{fixture} needs the lmstudio package (pip install 'pytest-lmstudio[sdk]')"
    )


def _server(request: pytest.FixtureRequest) -> LMStudioServer:
    # asked for after the import check: a test that skips never starts an LM Studio; the endpoint
    # is the run's server, or this test's recorder/replayer when it has a cassette
    server: LMStudioServer = request.getfixturevalue("_lmstudio_endpoint")
    return server


@pytest.fixture
def lmstudio_sdk(request: pytest.FixtureRequest) -> Iterator[Any]:
    """An ``lmstudio.Client`` connected to the run's LM Studio (closed after the test)."""
    lmstudio = _import_sdk("lmstudio_sdk")
    with lmstudio.Client(api_host(_server(request).url)) as client:
        yield client


@pytest.fixture
def lmstudio_async_sdk(request: pytest.FixtureRequest) -> Any:
    """An ``lmstudio.AsyncClient`` for the run's LM Studio, not yet connected: it belongs to the
    test's event loop, so enter it there (``async with lmstudio_async_sdk as client: ...``)."""
    lmstudio = _import_sdk("lmstudio_async_sdk")
    return lmstudio.AsyncClient(api_host(_server(request).url))


@pytest.fixture
def lmstudio_sdk_default(request: pytest.FixtureRequest) -> Iterator[Any]:
    """For applications that use the SDK's module-level helpers (``lms.llm()``,
    ``lms.embedding_model()``, ``lms.get_default_client()``): the SDK's default client points at
    the run's LM Studio for this test, and is closed and forgotten after it. Yields that client."""
    lmstudio = _import_sdk("lmstudio_sdk_default")
    with default_client_at(lmstudio, api_host(_server(request).url)):
        yield lmstudio.get_default_client()


@contextlib.contextmanager
def default_client_at(lmstudio: Any, host: str) -> Iterator[None]:
    """The ``lmstudio`` SDK's default client points at ``host`` inside the block; before and
    after, it is closed and forgotten (with the SDK's own reset "for the test suite")."""
    lmstudio.sync_api._reset_default_client()
    lmstudio.configure_default_client(host)
    try:
        yield
    finally:
        lmstudio.sync_api._reset_default_client()
