"""pytest-lmstudio: options, fixtures, the ``lmstudio`` marker and the run report, in one file.

State lives on the config stash (:class:`LMStudioSession`); the work is done by small modules:
settings (options), rundir (state shared across xdist workers), server (find/start/stop),
models (download/load once per run), report (header and summary), client (the HTTP client),
shared_http (what the client fixtures share per session). A run whose tests use neither the marker
nor one of these fixtures leaves no trace: no header, no probe, no run directory.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, cast

import pytest

from pytest_lmstudio import clientenv, report
from pytest_lmstudio import settings as settings_mod
from pytest_lmstudio.rundir import CONTROLLER_PID_KEY, WORKERINPUT_KEY, RunDir, planned_path
from pytest_lmstudio.server import LMStudioServer, Unavailable
from pytest_lmstudio.settings import Settings

if TYPE_CHECKING:
    from pytest_lmstudio.client import AsyncLMStudioClient, LMStudioClient
    from pytest_lmstudio.lms import Lms
    from pytest_lmstudio.models import LMStudioModel, ModelManager
    from pytest_lmstudio.shared_http import SharedHTTP

# the in-process fake for scripted replies and faults (`lmstudio_fake`) lives in its own module
pytest_plugins = ["pytest_lmstudio.fake_fixture", "pytest_lmstudio.cassettes", "pytest_lmstudio.sdk_fixtures"]

MARKER_HELP = (
    "lmstudio(models=None, cassette=None): the test needs LM Studio (a real one, or the bundled fake "
    "with --lmstudio-mode=fake/auto); `models` are ensured downloaded and loaded once per run; "
    "`cassette` (True or a name) records and replays its exchanges (--lmstudio-record-mode)"
)


class LMStudioSession:
    """Per-process plugin state, kept on ``config.stash``."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        controller: bool,
        planned: Path | None = None,
        controller_pid: int | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self._run: RunDir | None = None
        self._planned = planned  # under xdist: the run directory's path, made when first needed
        self._controller_pid = controller_pid
        self.controller = controller
        self._server: LMStudioServer | None = None
        self._unavailable: Unavailable | None = None
        self._models: ModelManager | None = None
        self._env_backup: dict[str, str | None] | None = None
        self.cleanup_lines: list[str] = []
        self.finished = False

    @property
    def run(self) -> RunDir:
        """The run directory, created on first use (a run that never needs LM Studio makes none)."""
        if self._run is None:
            self._run = RunDir.create(self._planned, self._controller_pid)
        return self._run

    def existing_run(self) -> RunDir | None:
        """The run directory, if this process or (under xdist) a worker made one."""
        if self._run is None and self._planned is not None and self._planned.is_dir():
            self._run = RunDir(self._planned)
        return self._run

    def plan_run(self) -> Path:
        """xdist controller: the run directory's path for the workers, without making it."""
        if self._run is not None:
            return self._run.path
        if self._planned is None:
            self._planned = planned_path()
        return self._planned

    def server(self) -> LMStudioServer:
        """The run's server; raises :class:`Unavailable` when there is none, or when the run's
        shared fake has exited since (checked on every call: a test is told before it runs)."""
        from pytest_lmstudio import server as server_mod

        if self._server is None and self._unavailable is None:
            try:
                self._server = server_mod.obtain(self.settings, self.run)
            except Unavailable as exc:
                self._unavailable = exc
            else:
                if self._server.is_fake:
                    self._env_backup = server_mod.activate_fake_environment(self._server)
        if self._unavailable is None and self._server is not None:
            ended = server_mod.fake_exit(self._server, self.run)
            if ended is not None:
                self._unavailable = server_mod.exited(ended)
        if self._unavailable is not None:
            raise self._unavailable
        assert self._server is not None
        return self._server

    def has_server(self) -> bool:
        """Whether this process has obtained the run's server (or learnt there is none)."""
        return self._server is not None or self._unavailable is not None

    def models(self) -> ModelManager:
        server = self.server()  # a model of a fake that died is not ready, even if prepared before
        if self._models is None:
            from pytest_lmstudio.models import ModelManager

            self._models = ModelManager(server, self.settings, self.run)
        return self._models

    def finish(self) -> None:
        """Controller only: unload what the run loaded, stop what it started (once)."""
        if self.finished or not self.controller or self.existing_run() is None:
            return
        self.finished = True
        from pytest_lmstudio import models as models_mod
        from pytest_lmstudio import server as server_mod

        recorded = self.run.read(server_mod.SERVER_FILE)
        if recorded and recorded.get("status") == "ok":
            server = LMStudioServer(**recorded["server"])
            if server_mod.fake_exit(server, self.run) is None:  # a dead fake has nothing to unload
                with contextlib.suppress(Exception):
                    end = models_mod.unload_run_models(server, self.settings, self.run)
                    self.cleanup_lines.extend(report.end_of_run_lines(end, self.settings))
            others = _other_runs(server, self.run) if server.started_by_run else 0
            if others:
                self.cleanup_lines.append(
                    f"left LM Studio's server running: {others} other pytest run(s) on this machine use it"
                )
            else:
                self.cleanup_lines.extend(server_mod.release(self.run))

    def restore(self) -> None:
        if self._env_backup is not None:
            from pytest_lmstudio.server import restore_environment

            restore_environment(self._env_backup)
            self._env_backup = None


def _other_runs(server: LMStudioServer, run: RunDir) -> int:
    """How many other live pytest runs on this machine hold leases on ``server`` (leases.py)."""
    from pytest_lmstudio import leases

    if leases.scope(server.url, server.is_fake) != "local":
        return 0
    try:
        return leases.Leases(server.url, run.path.name, run.controller_pid).in_use_by_others()
    except Exception:  # the leases cannot be read: stop what the run started, as before leases
        return 0


SESSION_KEY = pytest.StashKey[LMStudioSession]()


def _session(config: pytest.Config) -> LMStudioSession:
    return config.stash[SESSION_KEY]


def unavailable(session: LMStudioSession, exc: Unavailable) -> NoReturn:
    """Skip with the reason and the fix, or fail when the run demands LM Studio."""
    message = (
        f"{report.SKIP_PREFIX}{exc.reason} — fix: {exc.fix}"
        if exc.fix
        else f"{report.SKIP_PREFIX}{exc.reason}"
    )
    # raised "from None": called inside `except Unavailable`, pytest would otherwise print the
    # message twice, joined by "During handling of the above exception..."
    if session.settings.require:
        failure = message + " (--lmstudio-require turns this skip into a failure)"
        raise pytest.fail.Exception(failure, pytrace=False) from None
    raise pytest.skip.Exception(message, allow_module_level=False) from None


# -- hooks ---------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    settings_mod.add_options(parser)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    settings = settings_mod.from_config(config)
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and WORKERINPUT_KEY in workerinput:
        planned = Path(workerinput[WORKERINPUT_KEY])
        pid = workerinput.get(CONTROLLER_PID_KEY)
        config.stash[SESSION_KEY] = LMStudioSession(config, settings, False, planned, pid)
    else:
        config.stash[SESSION_KEY] = LMStudioSession(config, settings, True)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: tell each worker where the run directory will be, should one need it."""
    node.workerinput[WORKERINPUT_KEY] = str(_session(node.config).plan_run())
    node.workerinput[CONTROLLER_PID_KEY] = os.getpid()


# What makes a test need LM Studio: the marker, or one of these fixtures (directly or through its own)
PLUGIN_FIXTURES = frozenset(
    {
        "lmstudio_settings",
        "lmstudio_server",
        "lmstudio_model",
        "lmstudio_client",
        "lmstudio_async_client",
        "lmstudio_openai",
        "lmstudio_async_openai",
        "lmstudio_base_url",
        "lmstudio_env",
        "lmstudio_lms",
        "lmstudio_fake",
        "lmstudio_fake_env",
        "lmstudio_control",
        "lmstudio_sdk",
        "lmstudio_async_sdk",
        "lmstudio_sdk_default",
    }
)


# ... of which these need no LM Studio and no shared fake: each test has its own in-process fake
IN_PROCESS_FIXTURES = frozenset({"lmstudio_fake", "lmstudio_fake_env"})


def uses_lmstudio(item: pytest.Item) -> bool:
    if item.get_closest_marker("lmstudio") is not None:
        return True
    return not PLUGIN_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def needs_server(item: pytest.Item) -> bool:
    """Whether the test talks to the run's LM Studio (or shared fake), not only to ``lmstudio_fake``."""
    if item.get_closest_marker("lmstudio") is not None:
        return True
    return not (PLUGIN_FIXTURES - IN_PROCESS_FIXTURES).isdisjoint(getattr(item, "fixturenames", ()))


# No pytest_report_header: the header is said once the tests are known (below), so that a run that
# does not use LM Studio shows nothing and probes nothing. An xdist controller collects no tests: it
# says nothing up front, and the summary at the end tells what the workers used.


MARKER_ARGUMENTS = {
    "models": "a model key or a list of model keys (also the first positional argument)",
    "cassette": "True, False or a cassette name (record and replay)",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A typo in the marker is a usage error, not a silent no-op: ``lmstudio(model=...)`` ensured
    nothing and said nothing."""
    for item in items:
        for marker in item.iter_markers("lmstudio"):
            problems = [
                f"unknown argument {name!r}" for name in marker.kwargs if name not in MARKER_ARGUMENTS
            ]
            if len(marker.args) > 1 or (marker.args and "models" in marker.kwargs):
                problems.append("models given twice, or more than one positional argument")
            cassette = marker.kwargs.get("cassette")
            if cassette is not None and not isinstance(cassette, (bool, str)):
                problems.append(f"cassette must be True, False or a name, not {cassette!r}")
            if problems:
                accepted = "; ".join(f"{name}: {text}" for name, text in MARKER_ARGUMENTS.items())
                raise pytest.UsageError(
                    f"{item.nodeid}: @pytest.mark.lmstudio: {', '.join(problems)}. Accepted arguments: "
                    f"{accepted}"
                )
            _marker_models(item)  # a wrong type for models is reported here too


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str] | None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or hasattr(config, "workerinput") or not any(map(uses_lmstudio, items)):
        return None
    if not any(map(needs_server, items)):  # nothing to probe: say so, and do not probe
        return [report.IN_PROCESS_HEADER]
    lines = [report.header(session.settings)]
    if session.settings.mode != "off":
        marked: list[str] = []
        for item in items:
            try:
                marked.extend(_marker_models(item))
            except pytest.UsageError:
                pass  # reported when the test runs
        models = report.models_line(session.settings, marked)
        if models:
            lines.append(models)
    return lines


def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(SESSION_KEY, None)
    if state is not None:
        state.finish()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not session.controller or session.existing_run() is None:
        return
    lines = report.summary_lines(
        session.run, session.settings, terminalreporter.stats.get("skipped", []), session.cleanup_lines
    )
    if lines:
        terminalreporter.write_sep("-", "LM Studio")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return
    session.finish()
    session.restore()
    run = session.existing_run() if session.controller else None
    if run is not None:
        run.remove()


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lmstudio_settings(pytestconfig: pytest.Config) -> Settings:
    """``LMStudioSettings``: the run's resolved ``--lmstudio-*`` settings (CLI > ini > environment
    > defaults): ``.mode``, ``.url``, ``.model``, ``.timeout``, ``.ttl``, ``.require``..."""
    return _session(pytestconfig).settings


@pytest.fixture(scope="session")
def lmstudio_server(pytestconfig: pytest.Config) -> LMStudioServer:
    """``LMStudioServer``: the LM Studio this run talks to (found, started with ``lms``, or the
    bundled fake): ``.url`` (root), ``.base_url`` (``/v1``), ``.mode``, ``.version``, ``.home`` (fake).
    Skips (or fails, with ``--lmstudio-require``) the test when none is available."""
    return _run_server(_session(pytestconfig))


def _run_server(session: LMStudioSession) -> LMStudioServer:
    """The run's server, or skip (fail under --lmstudio-require) with the reason there is none."""
    try:
        return session.server()
    except Unavailable as exc:
        unavailable(session, exc)


def _marker_models(node: pytest.Item) -> list[str]:
    marker = node.get_closest_marker("lmstudio")
    if marker is None:
        return []
    models = marker.kwargs.get("models", marker.args[0] if marker.args else None)
    if models is None:
        return []
    if isinstance(models, str):
        return [models]
    if not isinstance(models, (list, tuple)) or not all(isinstance(m, str) and m for m in models):
        raise pytest.UsageError(
            f"{node.nodeid}: @pytest.mark.lmstudio(models=...) takes model keys "
            f"(a string or a list of strings), not {models!r}"
        )
    return list(models)


@pytest.fixture
def _lmstudio_endpoint(request: pytest.FixtureRequest) -> LMStudioServer:
    """The LM Studio this test talks to: the run's server, or, for a test with a cassette, this
    process's recorder/replayer in front of it (pytest_lmstudio/cassettes.py)."""
    from pytest_lmstudio import cassettes

    session = _session(request.config)
    try:
        found = cassettes.endpoint(request, session.server)
    except Unavailable as exc:
        unavailable(session, exc)
    if found is not None:
        return found
    request.getfixturevalue("lmstudio_server")
    return _run_server(session)  # the session fixture is cached: ask again whether the fake still runs


def _ensure_model(request: pytest.FixtureRequest, key: str, ttl: int | None = None) -> LMStudioModel:
    from pytest_lmstudio import cassettes

    replayed = cassettes.replayed_model(request, key)  # a replaying test: the fake's own state
    if replayed is not None:
        return replayed
    session = _session(request.config)
    try:
        return session.models().ensure(key, ttl=ttl)
    except Unavailable as exc:
        unavailable(session, exc)


@pytest.fixture(autouse=True)
def _lmstudio_marker(request: pytest.FixtureRequest) -> None:
    """Tests marked ``@pytest.mark.lmstudio`` get the server (or skip) and their models. A test using
    ``lmstudio_server`` (cached for the session) is told, before it runs, when the run's shared fake
    has exited since it was obtained."""
    session = request.config.stash.get(SESSION_KEY, None)
    if session is not None and session.has_server() and "lmstudio_server" in request.fixturenames:
        _run_server(session)
    if request.node.get_closest_marker("lmstudio") is None:
        return
    request.getfixturevalue("_lmstudio_endpoint")
    for key in _marker_models(request.node):
        _ensure_model(request, key)


def _default_model(request: pytest.FixtureRequest) -> str | None:
    session = _session(request.config)
    key = session.settings.model or next(iter(_marker_models(request.node)), None)
    if key is None:
        return None
    return _ensure_model(request, key).key


@pytest.fixture
def lmstudio_model(
    request: pytest.FixtureRequest, _lmstudio_endpoint: LMStudioServer
) -> Callable[..., LMStudioModel]:
    """Factory: ``lmstudio_model("qwen/qwen3-4b", ttl=600)`` → ``LMStudioModel`` (``.key``,
    ``.identifier``, ``.loaded_by_run``), downloaded and loaded once per run across xdist workers;
    skips with the reason when it cannot be (not downloaded and downloads off, load failed)."""
    session = _session(request.config)

    def ensure(key: str | None = None, *, ttl: int | None = None) -> LMStudioModel:
        key = key or session.settings.model
        if not key:
            raise pytest.UsageError("lmstudio_model() needs a model key (or set --lmstudio-model)")
        return _ensure_model(request, key, ttl)

    return ensure


@pytest.fixture(scope="session")
def _lmstudio_shared_http() -> Iterator[SharedHTTP]:
    """The session's SSL context and connection pools, under every client fixture's fresh client."""
    from pytest_lmstudio.shared_http import SharedHTTP

    shared = SharedHTTP()
    yield shared
    shared.close()


@pytest.fixture
def lmstudio_client(
    request: pytest.FixtureRequest, _lmstudio_endpoint: LMStudioServer, _lmstudio_shared_http: SharedHTTP
) -> Iterator[LMStudioClient]:
    """The project's client, bound to the server, the API key and the default model. A new client
    each test, over the session's connection pool."""
    import httpx

    from pytest_lmstudio.client import LMStudioClient

    settings = _session(request.config).settings
    transport = cast(httpx.BaseTransport, _lmstudio_shared_http.transport(httpx))
    with httpx.Client(transport=transport, trust_env=False) as http:
        yield LMStudioClient(
            _lmstudio_endpoint.url,
            api_key=settings.api_key,
            default_model=_default_model(request),
            timeout=settings.timeout,
            http_client=http,
        )


# An async client's pooled connections belong to the event loop of the test that used them, which
# is gone by teardown: async fixtures keep no idle connections, so there is nothing left to close.
NO_IDLE_CONNECTIONS = {"max_keepalive_connections": 0}


@pytest.fixture
def lmstudio_async_client(
    request: pytest.FixtureRequest, _lmstudio_endpoint: LMStudioServer, _lmstudio_shared_http: SharedHTTP
) -> AsyncLMStudioClient:
    """The async client, bound like ``lmstudio_client`` (``async with`` it, or just await calls)."""
    import httpx

    from pytest_lmstudio.client import AsyncLMStudioClient

    settings = _session(request.config).settings
    http = httpx.AsyncClient(
        verify=_lmstudio_shared_http.ssl_context(),
        timeout=settings.timeout,
        trust_env=False,
        limits=httpx.Limits(**NO_IDLE_CONNECTIONS),
    )
    return AsyncLMStudioClient(
        _lmstudio_endpoint.url,
        api_key=settings.api_key,
        default_model=_default_model(request),
        timeout=settings.timeout,
        http_client=http,
    )


def _openai_kwargs(request: pytest.FixtureRequest, server: LMStudioServer) -> dict[str, Any]:
    settings = _session(request.config).settings
    return {
        "base_url": server.base_url,
        "api_key": settings.api_key or "lm-studio",
        "timeout": settings.timeout,
    }


@pytest.fixture
def lmstudio_openai(
    request: pytest.FixtureRequest, _lmstudio_endpoint: LMStudioServer, _lmstudio_shared_http: SharedHTTP
) -> Iterator[Any]:
    """An ``openai.OpenAI`` client bound to LM Studio (skips when ``openai`` is not installed)."""
    openai = pytest.importorskip(
        "openai", reason="lmstudio_openai needs the openai package (pip install 'pytest-lmstudio[openai]')"
    )
    from pytest_lmstudio.shared_http import http_library

    _default_model(request)
    # its own http client (openai's defaults, its own headers and cookies) over the session's pool:
    # OpenAI.close() closes the http client it was given, and that must not end the shared pool.
    # trust_env=False: a proxy configured for the outside world must not receive loopback requests
    pool = _lmstudio_shared_http.transport(http_library(openai.DefaultHttpxClient))
    http = openai.DefaultHttpxClient(transport=pool, trust_env=False)
    client = openai.OpenAI(**_openai_kwargs(request, _lmstudio_endpoint), http_client=http)
    yield client
    client.close()


@pytest.fixture
def lmstudio_async_openai(
    request: pytest.FixtureRequest, _lmstudio_endpoint: LMStudioServer, _lmstudio_shared_http: SharedHTTP
) -> Any:
    """An ``openai.AsyncOpenAI`` client bound to LM Studio (skips when ``openai`` is not installed)."""
    openai = pytest.importorskip(
        "openai",
        reason="lmstudio_async_openai needs the openai package (pip install 'pytest-lmstudio[openai]')",
    )
    from pytest_lmstudio.shared_http import http_library

    _default_model(request)
    lib = http_library(openai.DefaultAsyncHttpxClient)
    http = openai.DefaultAsyncHttpxClient(
        verify=_lmstudio_shared_http.ssl_context(),
        trust_env=False,
        limits=lib.Limits(**NO_IDLE_CONNECTIONS),
    )
    return openai.AsyncOpenAI(**_openai_kwargs(request, _lmstudio_endpoint), http_client=http)


@dataclass(frozen=True)
class LMStudioURLs:
    """``root`` (native API, probes) and ``v1`` (OpenAI-compatible); ``str()`` is the ``/v1`` form."""

    root: str
    v1: str

    def __str__(self) -> str:
        return self.v1


@pytest.fixture
def lmstudio_base_url(_lmstudio_endpoint: LMStudioServer) -> LMStudioURLs:
    """``LMStudioURLs``: the server's URLs, ``.root`` (``http://127.0.0.1:1234``) and ``.v1``
    (``.../v1``, also what ``str()`` gives)."""
    return LMStudioURLs(_lmstudio_endpoint.url, _lmstudio_endpoint.base_url)


ENV_VARIABLES = clientenv.ENV_VARIABLES


@pytest.fixture
def lmstudio_env(
    request: pytest.FixtureRequest, _lmstudio_endpoint: LMStudioServer, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Sets, for this test, the variables common LM Studio clients read (``OPENAI_BASE_URL``,
    ``OPENAI_API_KEY``, ``LMSTUDIO_URL``, ``LM_STUDIO_API_BASE``, ...), pointing at the run's LM
    Studio; returns them as a ``dict[str, str]``. Restored after the test."""
    key = _session(request.config).settings.api_key or "lm-studio"
    values = clientenv.client_env(_lmstudio_endpoint.url, _lmstudio_endpoint.base_url, key)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def lmstudio_control(request: pytest.FixtureRequest, lmstudio_server: LMStudioServer) -> Iterator[Any]:
    """Scripts the run's shared fake LM Studio *process* for this test (``--lmstudio-mode=fake``,
    or ``auto`` without a real one): ``reply``, ``fail``, ``fault``... as on ``lmstudio_fake``, and
    ``requests`` since the test began. The rules it registers are removed when the test ends, and
    other tests' rules are never touched (under ``-n``, give each rule a ``match=`` of its own).
    Skips with a reason when the run talks to a real LM Studio."""
    from fake_lms.scripting.remote import ScopedControl

    if not lmstudio_server.is_fake:
        pytest.skip(
            f"{report.SKIP_PREFIX}lmstudio_control scripts the bundled fake; this run uses a real LM "
            "Studio — fix: run with --lmstudio-mode=fake, or use lmstudio_fake"
        )
    control = ScopedControl(lmstudio_server.url, timeout=_session(request.config).settings.timeout)
    try:
        yield control
    finally:
        control.close()


@pytest.fixture
def lmstudio_lms(request: pytest.FixtureRequest, _lmstudio_endpoint: LMStudioServer) -> Lms:
    """``Lms``: runs ``lms`` subcommands (the fake ``lms`` in fake mode): ``.ps()``, ``.ls()``,
    ``.load(key)``, ``.run("get", "--yes", key)``. Skips when ``lms`` is not found."""
    from pytest_lmstudio.errors import LmsNotFound
    from pytest_lmstudio.lms import Lms, find_lms

    session = _session(request.config)
    try:
        path = find_lms()
    except LmsNotFound as exc:
        unavailable(
            session,
            Unavailable(
                "`lms` was not found",
                "Install LM Studio's CLI (`npx lmstudio install-cli`) or use --lmstudio-mode=fake",
                kind="lms-not-found",
                detail=str(exc),
            ),
        )
    return Lms(path, env=dict(os.environ))
