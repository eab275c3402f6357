"""Record and replay in pytest: a test with a cassette talks to this process's recorder/replayer.

Each pytest process (so each xdist worker) runs one in-process ``FakeLMStudio`` with record/replay
on (``fake_lms.server.recording``). A worker runs one test at a time, so at a test's setup the
plugin makes that test's cassette the fake's *current* one and hands the test the fake's URLs (the
client fixtures, ``lmstudio_env``, ``lmstudio_base_url``; when only replaying, also the fake ``lms``
first on ``PATH``); at teardown it saves what was recorded (atomically) and notes the drift. A
request the cassette cannot answer fails the test, naming it, the request, the closest recorded one
and the command that records it.

The files are ``<test module dir>/<cassette dir>/<module name>/<test name>.yaml``. The format,
matching, redaction and drift live in ``fake_lms.replay``, usable without pytest.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from pytest_lmstudio.server import LMStudioServer
from pytest_lmstudio.settings import Settings

if TYPE_CHECKING:
    from fake_lms.replay.session import CassetteSession
    from fake_lms.server.fake import FakeLMStudio
    from pytest_lmstudio.models import LMStudioModel

DRIFT_PROPERTY = "lmstudio_cassette_drift"
SAVED_PROPERTY = "lmstudio_cassette_saved"


class Recorder:
    """This process's record/replay fake, started on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.fake: FakeLMStudio | None = None
        self.dir: Path | None = None
        self.bin_dir: Path | None = None
        self._upstreams: dict[str, Any] = {}

    def start(self) -> FakeLMStudio:
        if self.fake is not None:
            return self.fake
        from fake_lms.cli.launcher import install_lms
        from fake_lms.model.home import Home
        from fake_lms.server.fake import FakeLMStudio
        from fake_lms.server.recording import RecordReplay

        self.dir = Path(tempfile.mkdtemp(prefix="lmstudio-cassettes-"))
        home = self.dir / "fake-home"
        fake = FakeLMStudio(home=Home(home))
        fake.cassettes = RecordReplay(pacing=self.settings.replay_pacing)
        fake.start()
        self.bin_dir = install_lms(self.dir / "bin", home=home).parent
        self.fake = fake
        return fake

    def upstream(self, url: str) -> Any:
        from fake_lms.server.proxy import Upstream

        if url not in self._upstreams:
            timeout = max(self.settings.timeout, 600.0)
            self._upstreams[url] = Upstream(url, allow_remote=self.settings.record_remote, timeout=timeout)
        return self._upstreams[url]

    def stop(self) -> None:
        for upstream in self._upstreams.values():
            upstream.close()
        self._upstreams.clear()
        if self.fake is not None:
            with contextlib.suppress(Exception):
                self.fake.stop()
            self.fake = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


RECORDER_KEY = pytest.StashKey[Recorder]()
SESSION_KEY = pytest.StashKey["CassetteSession"]()
_REPORTED_KEY = pytest.StashKey[int]()
_RAN_KEY = pytest.StashKey[bool]()  # the test's call phase ended (not cut short by Ctrl-C)
# what the controller heard from every process's teardown reports: (test id, lines)
_DRIFT: list[tuple[str, list[str]]] = []
_SAVED: list[tuple[str, str, int]] = []


def _settings(config: pytest.Config) -> Settings:
    from pytest_lmstudio.plugin import SESSION_KEY as PLUGIN_KEY

    return config.stash[PLUGIN_KEY].settings


def cassette_name(item: pytest.Item, settings: Settings) -> str | None:
    """The test's cassette name, or ``None`` when it has none (marker ``cassette=`` wins over the
    suite-wide ``lmstudio_cassettes`` setting; ``cassette=False`` opts a test out)."""
    marker = item.get_closest_marker("lmstudio")
    value: Any = marker.kwargs.get("cassette") if marker is not None else None
    if value is None:
        value = settings.cassettes
    if value is False or value is None:
        return None
    if value is True:
        return item.name
    if not isinstance(value, str) or not value.strip():
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.lmstudio(cassette=...) takes True, False or a name, not {value!r}"
        )
    return value.strip()


def safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._\-\[\]=+,@]", "_", name).strip(".")
    return cleaned or "cassette"


def cassette_path(item: pytest.Item, name: str, settings: Settings) -> Path:
    module = Path(str(item.path))
    base = Path(settings.cassette_dir).expanduser()
    if not base.is_absolute():
        base = module.parent / base
    return base / module.stem / f"{safe_name(name)}.yaml"


def record_command(item: pytest.Item, settings: Settings) -> str:
    """The exact command that records what this test's cassette lacks."""
    parts = ["pytest", item.nodeid, "--lmstudio-record-mode=new_episodes"]
    if settings.mode != "live":
        parts.append("--lmstudio-mode=live")
    if "url" in settings.sources:
        parts += ["--lmstudio-url", settings.url]
    return " ".join(shlex.quote(p) for p in parts)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def endpoint(request: pytest.FixtureRequest, upstream: Callable[[], LMStudioServer]) -> LMStudioServer | None:
    """For a test with a cassette: make it this process's fake's current cassette and return the
    fake as the test's server (``upstream()`` is the run's LM Studio, asked only when recording
    may happen). ``None`` for a test without a cassette. Raises ``Unavailable`` from ``upstream``."""
    item = request.node
    settings = _settings(request.config)
    name = cassette_name(item, settings)
    if name is None:
        return None
    if SESSION_KEY in item.stash:  # asked twice in one test
        return _as_server(request.config, item.stash[SESSION_KEY])
    from fake_lms.replay import CassetteError, CassetteSession, Matcher, Redactor
    from fake_lms.replay.matching import DEFAULT_IGNORED
    from fake_lms.server.proxy import UpstreamRefused

    words = _split(settings.redact)
    redactor = Redactor(headers=words, fields=words)
    ignore = _split(settings.match_ignore) if settings.match_ignore else list(DEFAULT_IGNORED)
    path = cassette_path(item, name, settings)
    try:
        session = CassetteSession(
            path,
            settings.record_mode,
            matcher=Matcher(ignore, redactor),
            redactor=redactor,
            record_hint=record_command(item, settings),
        )
    except (OSError, CassetteError) as exc:
        pytest.fail(f"pytest-lmstudio: cannot use cassette {path}: {exc}", pytrace=False)
    recorder = request.config.stash.get(RECORDER_KEY, None)
    if recorder is None:
        recorder = request.config.stash[RECORDER_KEY] = Recorder(settings)
    fake = recorder.start()
    assert fake.cassettes is not None
    fake.cassettes.upstream = None
    if session.records:
        live = upstream()
        try:
            fake.cassettes.upstream = recorder.upstream(live.url)
        except UpstreamRefused as exc:
            pytest.fail(f"pytest-lmstudio: {exc} (--lmstudio-record-remote allows it)", pytrace=False)
    fake.reset()  # the fake's own state (loaded models, settings) starts afresh for every test
    fake.cassettes.current = session
    item.stash[SESSION_KEY] = session
    if not session.records:  # replay only: the fake `lms` works on the fake's own state
        patch = pytest.MonkeyPatch()
        assert recorder.bin_dir is not None
        patch.setenv("PATH", str(recorder.bin_dir) + os.pathsep + os.environ.get("PATH", ""))
        patch.setenv("LMS_FAKE_HOME", str(fake.home.path))
        for var in ("NO_PROXY", "no_proxy"):
            hosts = [h for h in os.environ.get(var, "").split(",") if h.strip()]
            patch.setenv(var, ",".join(dict.fromkeys([*hosts, "127.0.0.1", "localhost", "::1"])))
        request.addfinalizer(patch.undo)
    request.addfinalizer(lambda: _finish(item, fake, session))
    return _as_server(request.config, session)


def _as_server(config: pytest.Config, session: CassetteSession) -> LMStudioServer:
    recorder = config.stash[RECORDER_KEY]
    fake = recorder.start()
    mode = "record" if session.records else "replay"
    return LMStudioServer(
        fake.url,
        mode,
        f"cassette {session.path} (record mode {session.mode})",
        fake.ctx.version,
        home=str(fake.home.path),
        bin_dir=str(recorder.bin_dir) if mode == "replay" else None,
        extra={"cassette": str(session.path), "record_mode": session.mode},
    )


def _finish(item: pytest.Item, fake: FakeLMStudio, session: CassetteSession) -> None:
    assert fake.cassettes is not None
    fake.cassettes.wait_idle()
    fake.cassettes.current = None
    if not item.stash.get(_RAN_KEY, False):
        return  # interrupted (or never ran): a partial recording is not written over anything
    outcome = session.finish()
    if outcome.drift:
        item.user_properties.append((DRIFT_PROPERTY, [d.line() for d in outcome.drift]))
    if outcome.saved is not None:
        item.user_properties.append((SAVED_PROPERTY, [str(outcome.saved), outcome.recorded]))


def replayed_model(request: pytest.FixtureRequest, key: str) -> LMStudioModel | None:
    """In a test that only replays, the model is loaded in the fake's own state (added to its
    catalog if the fake does not know it); ``None`` otherwise (the run's LM Studio provides it)."""
    session = request.node.stash.get(SESSION_KEY, None)
    if session is None or session.records:
        return None
    from fake_lms.model.catalog import ModelSpec
    from pytest_lmstudio.models import LMStudioModel

    fake = request.config.stash[RECORDER_KEY].start()
    home = fake.home
    if home.catalog.find(key) is None:  # a model only the recorded LM Studio had
        home.add_model(ModelSpec.plausible(key))
    if home.find_instance(key) is None:
        home.load(key, reuse=True, sleep=False)
    return LMStudioModel(key, key)


# -- hooks ---------------------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A test whose requests missed the cassette fails, with the miss explained (once, on the
    phase during which the miss happened)."""
    outcome = yield
    session = item.stash.get(SESSION_KEY, None)
    if session is None:
        return
    if call.when == "call":
        item.stash[_RAN_KEY] = True
    reported = item.stash.get(_REPORTED_KEY, 0)
    misses = session.outcome.misses[reported:]
    if not misses:
        return
    item.stash[_REPORTED_KEY] = reported + len(misses)
    report = outcome.get_result()
    lines = [f"pytest-lmstudio: cassette miss in {item.nodeid}"]
    for miss in misses:
        lines += ["", miss.describe(session.record_hint)]
    if call.excinfo is not None:
        lines += ["", f"the test then saw: {call.excinfo.typename}: {str(call.excinfo.value)[:300]}"]
    report.outcome = "failed"
    report.longrepr = "\n".join(lines)


def pytest_report_header(config: pytest.Config) -> str | None:
    from pytest_lmstudio.plugin import SESSION_KEY as PLUGIN_KEY

    session = config.stash.get(PLUGIN_KEY, None)
    if session is None or session.settings.mode == "off":
        return None
    settings = session.settings
    if not settings.cassettes and "record-mode" not in settings.sources:
        return None  # cassettes not mentioned: no header noise
    what = {
        "none": "replay only: tests with a cassette never contact LM Studio",
        "once": "record tests without a cassette, replay the others",
        "new_episodes": "replay, and record what a cassette lacks",
        "all": "record every request again",
        "rewrite": "record every cassette afresh",
    }[settings.record_mode]
    scope = "every LM Studio test" if settings.cassettes else "tests marked lmstudio(cassette=...)"
    return f"lmstudio cassettes: record mode {settings.record_mode} ({what}); {scope}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect drift notes and saved cassettes (the controller receives every worker's reports)."""
    if report.when != "teardown":
        return
    for name, value in report.user_properties:
        if name == DRIFT_PROPERTY:
            _DRIFT.append((report.nodeid, list(cast("list[str]", value))))
        elif name == SAVED_PROPERTY:
            saved = cast("tuple[str, int]", value)
            _SAVED.append((report.nodeid, str(saved[0]), int(saved[1])))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is not None:
        return
    if _SAVED:
        terminalreporter.write_sep("-", "LM Studio cassettes")
        for nodeid, path, count in _SAVED:
            terminalreporter.write_line(f"{nodeid}: recorded {count} exchange(s) into {path}")
    if _DRIFT:
        terminalreporter.write_sep("-", "LM Studio cassette drift (re-recorded answers that changed)")
        for nodeid, lines in _DRIFT:
            terminalreporter.write_line(nodeid)
            for line in lines:
                terminalreporter.write_line(f"    {line}")


def pytest_unconfigure(config: pytest.Config) -> None:
    recorder = config.stash.get(RECORDER_KEY, None)
    if recorder is not None:
        recorder.stop()
    _DRIFT.clear()
    _SAVED.clear()
