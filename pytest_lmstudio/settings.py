"""Settings: one frozen dataclass, each value resolved CLI > ini > environment > default.

Every option ``name`` exists as the command-line flag ``--lmstudio-<name>`` (booleans also as
``--no-lmstudio-<name>``), the ini key ``lmstudio_<name>`` and the environment variable
``LMSTUDIO_<NAME>``. The server URL and API key also fall back to the variables LM Studio clients
commonly read (see :mod:`pytest_lmstudio.client.config`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from pytest_lmstudio.client.config import DEFAULT_TIMEOUT, ClientConfig
from pytest_lmstudio.client.urls import DEFAULT_BASE_URL, normalize_base_url

MODES = ("live", "fake", "auto", "off")
RECORD_MODES = ("none", "once", "new_episodes", "all", "rewrite")  # pytest-recording's words
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


# A setting has a value that cannot be used; the message names the setting and its source. pytest
# prints a usage error as such (no traceback). UsageError is final, so this is a name, not a subclass.
SettingsError = pytest.UsageError


@dataclass(frozen=True)
class Option:
    name: str  # e.g. "keep-loaded"
    kind: str  # "str" | "bool" | "int" | "float" | "choice"
    help: str
    default: Any = None
    choices: tuple[str, ...] = MODES  # kind "choice"

    @property
    def dest(self) -> str:
        return "lmstudio_" + self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return "--lmstudio-" + self.name

    @property
    def env(self) -> str:
        return "LMSTUDIO_" + self.name.replace("-", "_").upper()


OPTIONS: tuple[Option, ...] = (
    Option(
        "mode",
        "choice",
        "live: a real LM Studio or skip; fake: the bundled fake; auto: live if "
        "reachable, else fake; off: skip every LM Studio test (default: live)",
        "live",
    ),
    Option("url", "str", f"LM Studio server URL, root or /v1 (default: {DEFAULT_BASE_URL})"),
    Option("api-key", "str", "API token for LM Studio servers that require authentication"),
    Option(
        "start", "bool", "start LM Studio with `lms server start` when it is not running (default: on)", True
    ),
    Option(
        "download", "bool", "download missing models (default: off for a real LM Studio, on for the fake)"
    ),
    Option("model", "str", "default model for lmstudio_client and the `lmstudio` marker"),
    Option(
        "ttl",
        "int",
        "idle TTL in seconds for models the run loads, so a crashed run frees memory (default: 900)",
        900,
    ),
    Option(
        "timeout",
        "float",
        f"deadline in seconds for each whole request, streams included (default: {DEFAULT_TIMEOUT:g})",
        DEFAULT_TIMEOUT,
    ),
    Option(
        "keep-loaded", "bool", "leave the models the run loaded in memory at the end (default: off)", False
    ),
    Option(
        "require",
        "bool",
        "fail instead of skipping when LM Studio or a model is unavailable "
        "(for CI, where a silently skipped suite is a bug)",
        False,
    ),
    Option(
        "fake-port",
        "int",
        "port of the bundled fake LM Studio process (default: a free one; 1234 for applications that "
        "hard-code http://localhost:1234)",
    ),
    Option(
        "fake-version",
        "str",
        "the LM Studio version the bundled fake process reports, e.g. 0.4.24+1 (default: the fake's "
        "own, fake_lms.LMSTUDIO_VERSION)",
    ),
    # record and replay (pytest_lmstudio/cassettes.py)
    Option(
        "record-mode",
        "choice",
        "cassettes: none (replay only, never contact LM Studio; the default), once (record a test "
        "that has no cassette yet), new_episodes (record what the cassette lacks), all (record "
        "every request again), rewrite (record each cassette afresh)",
        "none",
        choices=RECORD_MODES,
    ),
    Option(
        "cassettes",
        "bool",
        "give every LM Studio test a cassette, as @pytest.mark.lmstudio(cassette=True) does (default: off)",
        False,
    ),
    Option(
        "cassette-dir",
        "str",
        "where cassettes live, relative to each test module's directory (default: cassettes)",
        "cassettes",
    ),
    Option(
        "match-ignore",
        "str",
        "comma-separated request body fields replay matching ignores (default: temperature,seed,user)",
    ),
    Option(
        "redact",
        "str",
        "comma-separated header and body field names never written to a cassette, besides "
        "the credentials always dropped",
    ),
    Option("replay-pacing", "bool", "replay streams with their recorded timing (default: instantly)", False),
    Option(
        "record-remote",
        "bool",
        "allow recording an LM Studio that is not on this machine (default: loopback only)",
        False,
    ),
)
BY_DEST = {o.dest: o for o in OPTIONS}


@dataclass(frozen=True)
class Settings:
    mode: str = "live"
    url: str = DEFAULT_BASE_URL
    api_key: str | None = field(default=None, repr=False)
    start: bool = True
    download: bool | None = False  # None (auto mode): on when the run ends up on the fake
    model: str | None = None
    ttl: int = 900
    timeout: float = DEFAULT_TIMEOUT
    keep_loaded: bool = False
    require: bool = False
    record_mode: str = "none"
    cassettes: bool = False
    cassette_dir: str = "cassettes"
    match_ignore: str | None = None
    redact: str | None = None
    replay_pacing: bool = False
    record_remote: bool = False
    fake_port: int | None = None
    fake_version: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("lmstudio", "LM Studio (pytest-lmstudio)")
    for opt in OPTIONS:
        if opt.kind == "bool":
            group.addoption(
                opt.flag, action="store_const", const=True, dest=opt.dest, default=None, help=opt.help
            )
            group.addoption(
                "--no-lmstudio-" + opt.name,
                action="store_const",
                const=False,
                dest=opt.dest,
                default=None,
                help=f"turn off {opt.flag}",
            )
        else:
            extra: dict[str, Any] = {"choices": opt.choices} if opt.kind == "choice" else {}
            group.addoption(
                opt.flag,
                action="store",
                dest=opt.dest,
                default=None,
                metavar=opt.name.upper(),
                help=opt.help,
                **extra,
            )
        parser.addini(opt.dest, opt.help, default=None)


def _convert(opt: Option, raw: Any, source: str) -> Any:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None  # an empty value means unset, for every kind (a blank CI variable changes nothing)
    if opt.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise SettingsError(
            f"{source}: {raw!r} is not a boolean for lmstudio {opt.name} (use on/off, 1/0, "
            "true/false, yes/no)"
        )
    text = str(raw).strip()
    if opt.kind == "choice":
        if text not in opt.choices:
            raise SettingsError(
                f"{source}: lmstudio {opt.name} must be one of {', '.join(opt.choices)}, not {text!r}"
            )
        return text
    if opt.kind in ("int", "float"):
        try:
            value: float = int(text) if opt.kind == "int" else float(text)
        except ValueError:
            raise SettingsError(f"{source}: lmstudio {opt.name} must be a number, not {text!r}") from None
        if value <= 0:
            raise SettingsError(f"{source}: lmstudio {opt.name} must be positive, not {text!r}")
        if opt.name == "fake-port" and value > 65535:
            raise SettingsError(f"{source}: lmstudio fake-port must be a port (1-65535), not {text!r}")
        return value
    if opt.name == "fake-version":
        from fake_lms.model.identity import check_version

        try:
            check_version(text)
        except ValueError:
            raise SettingsError(
                f"{source}: lmstudio fake-version must look like 0.4.24+1, not {text!r}"
            ) from None
    return text or None


def resolve(
    cli: Callable[[str], Any],
    ini: Callable[[str], Any],
    environ: Mapping[str, str] | None = None,
    warn: Callable[[Warning], None] = warnings.warn,
) -> Settings:
    """Resolve every option from the CLI, then ini, then environment, then defaults."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        candidates = (
            (cli(opt.dest), f"{opt.flag}"),
            (ini(opt.dest), f"ini {opt.dest}"),
            (env.get(opt.env), f"env {opt.env}"),
        )
        for raw, source in candidates:
            value = _convert(opt, raw, source)
            if value is not None:
                values[opt.dest[len("lmstudio_") :]] = value
                sources[opt.name] = source
                break
    if "url" not in values or "api_key" not in values:
        own = {k: v for k, v in env.items() if k != "LMSTUDIO_URL"}  # LMSTUDIO_URL is the url option
        try:
            fallback = ClientConfig.from_env(environ=own)
        except ValueError as exc:
            # LMSTUDIO_BASE_URL / LM_STUDIO_API_BASE also belong to other tools: a value they accept
            # but we cannot use must not stop a test run that may never need LM Studio
            warn(pytest.PytestConfigWarning(f"pytest-lmstudio ignores it: {exc}"))
            foreign = ("LMSTUDIO_BASE_URL", "LM_STUDIO_API_BASE")
            fallback = ClientConfig.from_env(environ={k: v for k, v in own.items() if k not in foreign})
        if "url" not in values and fallback.base_url_source not in (None, "default"):
            values["url"] = fallback.urls.root
            sources["url"] = f"env {fallback.base_url_source}"
        if "api_key" not in values and fallback.api_key:
            values["api_key"] = fallback.api_key
            sources["api-key"] = f"env {fallback.api_key_source}"
    if "download" not in values:
        mode = values.get("mode", "live")
        values["download"] = None if mode == "auto" else mode == "fake"
    if "url" in values:
        try:
            values["url"] = normalize_base_url(values["url"]).root
        except ValueError as exc:
            raise SettingsError(f"{sources.get('url', 'url')}: {exc}") from None
    return Settings(**values, sources=sources)


def from_config(config: pytest.Config) -> Settings:
    def cli(dest: str) -> Any:
        return config.getoption(dest, default=None)

    def ini(dest: str) -> Any:
        value = config.getini(dest)
        return value if value not in (None, "", []) else None

    return resolve(cli, ini, warn=lambda warning: config.issue_config_time_warning(warning, stacklevel=2))
