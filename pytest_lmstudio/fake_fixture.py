"""The ``lmstudio_fake`` fixture: an in-process fake LM Studio to script, break and inspect.

One ``FakeLMStudio`` per pytest process (so one per xdist worker) is started on first use and
``reset()`` before every test: scripted replies, faults, recorded requests, pytest-httpserver
expectations, settings, loaded models and logs never leak from one test to the next. At teardown
errors raised inside the fake (its handlers, or a ``match=`` callable) are re-raised in the test,
and so are failed pytest-httpserver expectations.

Loaded by the pytest-lmstudio plugin; usable on its own with ``-p pytest_lmstudio.fake_fixture``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fake_lms.server.fake import FakeLMStudio


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "lmstudio_unused_scripts",
        "fail (default): a test whose lmstudio_fake reply or fault never acted fails at teardown; "
        "ignore: allow it",
        default="fail",
    )


@pytest.fixture(scope="session")
def _lmstudio_fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeLMStudio]:
    from fake_lms.model.home import Home
    from fake_lms.server.fake import FakeLMStudio  # imported on use: plugin start-up stays cheap

    home_dir = tmp_path_factory.mktemp("lmstudio-fake-home")
    fake = FakeLMStudio(home=Home(home_dir))
    fake.start()
    try:
        yield fake
    finally:
        fake.accept_connections()
        if fake.is_running():
            fake.stop()
        shutil.rmtree(home_dir, ignore_errors=True)


@pytest.fixture
def lmstudio_fake(
    request: pytest.FixtureRequest, _lmstudio_fake_server: FakeLMStudio
) -> Iterator[FakeLMStudio]:
    """A fake LM Studio for this test: ``lmstudio_fake.base_url`` for OpenAI clients,
    ``lmstudio_fake.reply(...)`` / ``.fail(...)`` / ``.fault(...)`` to script it,
    ``lmstudio_fake.requests`` and ``.assert_called_with(...)`` to check what the code sent."""
    fake = _lmstudio_fake_server
    fake.reset()
    if not fake.is_running():  # a previous test stopped it
        fake.start()
    yield fake
    fake.check_handler_errors()
    fake.check_assertions()
    unused = fake.unused_rules()
    if unused and request.config.getini("lmstudio_unused_scripts") != "ignore":
        listed = "\n".join(f"  {rule!r}" for rule in unused)
        pytest.fail(
            f"lmstudio_fake: {len(unused)} scripted rule(s) never acted on a request:\n{listed}\n"
            "Your code did not make the request they were meant for. Pass optional=True for a rule "
            "that may go unused, or set lmstudio_unused_scripts = ignore for the suite.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def _lmstudio_fake_lms_dir(
    tmp_path_factory: pytest.TempPathFactory, _lmstudio_fake_server: FakeLMStudio
) -> Path:
    """A directory with a fake ``lms`` launcher bound to the in-process fake's home."""
    from pytest_lmstudio.server import install_fake_lms

    directory = tmp_path_factory.mktemp("lmstudio-fake-bin")
    install_fake_lms(directory, _lmstudio_fake_server.home.path)
    return directory


@pytest.fixture
def lmstudio_fake_env(
    lmstudio_fake: FakeLMStudio, _lmstudio_fake_lms_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """For applications configured by the environment: points, for this test, the variables common
    clients read (``OPENAI_BASE_URL``, ``LMSTUDIO_URL``, ... as ``lmstudio_env`` sets them), the
    fake ``lms`` (first on ``PATH``, on this fake's home) and the ``lmstudio`` SDK's default client
    at ``lmstudio_fake``, which the test scripts; everything is restored after the test. Returns
    the variables set."""
    from pytest_lmstudio.clientenv import client_env

    values = client_env(lmstudio_fake.url, lmstudio_fake.base_url, "lm-studio")
    values["LMS_FAKE_HOME"] = str(lmstudio_fake.home.path)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PATH", f"{_lmstudio_fake_lms_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    from pytest_lmstudio.sdk_fixtures import default_client_at

    sdk = sys.modules.get("lmstudio") or _try_import("lmstudio")
    with default_client_at(sdk, lmstudio_fake.api_host) if sdk is not None else contextlib.nullcontext():
        yield values


def _try_import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
