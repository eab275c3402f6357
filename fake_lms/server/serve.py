"""``python -m fake_lms serve``: run a fake LM Studio in the foreground until SIGINT/SIGTERM.

The first line on stdout is the server's root URL, printed once it accepts connections, so a
parent process can read one line and start talking to it.

Record and replay without pytest (the cassettes pytest-lmstudio writes, for CI in any language):
``--record DIR --upstream URL`` puts the server in front of a real LM Studio and records every
generation into ``DIR/<cassette>.yaml``; ``--replay DIR`` answers generations from those files and
never contacts LM Studio. The cassette is ``--cassette NAME`` (default ``default``), or per request
the ``X-LMStudio-Cassette: NAME`` header (``tests/test_app/test_chat`` style paths allowed).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from fake_lms.core.auth import TOKEN_RE
from fake_lms.model.catalog import Catalog, CatalogError
from fake_lms.model.home import Home, Settings, StateError
from fake_lms.procs import pid_alive
from fake_lms.replay.session import RECORD_MODES
from fake_lms.server.fake import DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, FakeLMStudio


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fake_lms serve", description="Run a fake LM Studio server in the foreground."
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: 1234; 0 picks a free one)")
    p.add_argument("--home", help="fake LM Studio home (default: a new temporary directory, removed at exit)")
    p.add_argument("--catalog", help="catalog file (JSON or TOML) replacing the default models")
    p.add_argument(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="just-in-time model loading (LM Studio's default: on)",
    )
    p.add_argument(
        "--auto-evict",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep only the last JIT-loaded model (default: on)",
    )
    p.add_argument(
        "--require-auth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="require an API token (Authorization: Bearer sk-lm-...)",
    )
    p.add_argument(
        "--api-token",
        action="append",
        default=[],
        metavar="TOKEN",
        help="accept this API token (repeatable; format sk-lm-XXXXXXXX:YYYYYYYYYYYYYYYYYYYY)",
    )
    p.add_argument("--cors", action=argparse.BooleanOptionalAction, default=None, help="enable CORS")
    p.add_argument("--load-seconds", type=float, default=None, help="simulated model load time")
    p.add_argument(
        "--load-seconds-per-gb",
        type=float,
        default=None,
        help="simulated load time per GB of weights (realistic: about 1.5)",
    )
    p.add_argument("--download-seconds", type=float, default=None, help="simulated download duration")
    p.add_argument(
        "--download-bytes-per-second",
        type=float,
        default=None,
        help="simulated download speed (overrides --download-seconds)",
    )
    p.add_argument(
        "--lmstudio-version",
        default=None,
        metavar="VERSION",
        help="the LM Studio version to report, e.g. 0.4.24+1 (default: fake_lms.LMSTUDIO_VERSION)",
    )
    rec = p.add_argument_group("record and replay (cassettes)")
    rec.add_argument("--record", metavar="DIR", help="record generations into cassettes in DIR")
    rec.add_argument("--upstream", metavar="URL", help="the real LM Studio to record (with --record)")
    rec.add_argument("--replay", metavar="DIR", help="answer generations from the cassettes in DIR")
    rec.add_argument(
        "--record-mode",
        choices=RECORD_MODES,
        default=None,
        help="with --record: none|once|new_episodes|all|rewrite (default: new_episodes); --replay is none",
    )
    rec.add_argument("--cassette", default="default", help="cassette name when no X-LMStudio-Cassette header")
    rec.add_argument("--pacing", action="store_true", help="replay streams with their recorded timing")
    rec.add_argument(
        "--match-ignore",
        action="append",
        default=None,
        metavar="FIELD",
        help="request body field ignored by matching (repeatable; default: temperature, seed, user)",
    )
    rec.add_argument(
        "--redact-header",
        action="append",
        default=[],
        metavar="NAME",
        help="header never written to a cassette (repeatable; credentials are always dropped)",
    )
    rec.add_argument(
        "--redact-field",
        action="append",
        default=[],
        metavar="NAME",
        help="body field whose value is never written to a cassette (repeatable)",
    )
    rec.add_argument(
        "--allow-remote-upstream", action="store_true", help="allow an upstream that is not on this machine"
    )
    p.add_argument(
        "--max-body-mb",
        type=float,
        default=DEFAULT_MAX_BODY_BYTES / 2**20,
        metavar="MB",
        help="request bodies larger than this get a 413 (default: 64)",
    )
    p.add_argument(
        "--watch-pid",
        type=int,
        default=None,
        metavar="PID",
        help="exit when the process PID is gone (so a fake started for a test run never outlives it)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = {
        name: getattr(args, name)
        for name in (
            "jit",
            "auto_evict",
            "require_auth",
            "cors",
            "load_seconds",
            "load_seconds_per_gb",
            "download_seconds",
            "download_bytes_per_second",
            "lmstudio_version",
        )
        if getattr(args, name) is not None
    }
    if not (0 <= args.port <= 65535):
        print(f"error: --port must be between 0 and 65535, not {args.port}", file=sys.stderr)
        return 2
    for token in args.api_token or ():
        if not TOKEN_RE.match(token):
            print(
                "error: --api-token must look like sk-lm-XXXXXXXX:YYYYYYYYYYYYYYYYYYYY (8 and 20 letters "
                "or digits), as LM Studio's tokens do; the token given does not",
                file=sys.stderr,
            )
            return 2
    if not args.max_body_mb > 0:
        print(f"error: --max-body-mb must be more than 0, not {args.max_body_mb:g}", file=sys.stderr)
        return 2
    try:
        settings = Settings.checked(settings)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    temporary = args.home is None
    try:
        catalog = Catalog.load(args.catalog) if args.catalog else None
        home = Home.temporary(catalog=catalog) if temporary else Home(args.home, catalog=catalog)
        fake = FakeLMStudio(
            args.host,
            args.port,
            home=home,
            api_tokens=args.api_token,
            log_limit=1000,
            max_body_bytes=int(args.max_body_mb * 2**20),
            **settings,
        )
        problem = _set_up_cassettes(fake, args)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        fake.start()
    except (CatalogError, StateError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_signal)
    pid_file = home.server_pid_file
    pid_file.write_text(
        json.dumps({"pid": os.getpid(), "host": args.host, "port": fake.port, "url": fake.url}),
        encoding="utf-8",
    )
    gc.freeze()  # start-up objects never need collecting: full collections stay short under load
    print(fake.url, flush=True)
    print(
        f"fake LM Studio serving {fake.url} (home: {home.path}); Ctrl-C to stop", file=sys.stderr, flush=True
    )
    try:
        while not stop.wait(0.5):
            if args.watch_pid is not None and not pid_alive(args.watch_pid):
                print(
                    f"fake LM Studio: process {args.watch_pid} is gone; stopping", file=sys.stderr, flush=True
                )
                break
    finally:
        fake.stop()
        try:
            current = json.loads(pid_file.read_text(encoding="utf-8"))
            if current.get("pid") == os.getpid():
                pid_file.unlink()
        except (OSError, ValueError):
            pass
        if temporary:
            shutil.rmtree(home.path, ignore_errors=True)
    return 0


def _set_up_cassettes(fake: FakeLMStudio, args: argparse.Namespace) -> str | None:
    """Put ``fake`` in record or replay mode as the arguments ask; the problem, if any."""
    if not (args.record or args.replay):
        if args.upstream:
            return "--upstream needs --record DIR"
        return None
    if args.record and args.replay:
        return "choose one of --record DIR and --replay DIR"
    if args.record and not args.upstream:
        return "--record DIR needs --upstream URL (the real LM Studio to record)"
    from pathlib import Path

    from fake_lms.replay.matching import DEFAULT_IGNORED, Matcher
    from fake_lms.replay.redact import Redactor
    from fake_lms.replay.session import CassetteSession
    from fake_lms.server.proxy import Upstream
    from fake_lms.server.recording import RecordReplay

    directory = Path(args.record or args.replay)
    mode = (args.record_mode or "new_episodes") if args.record else "none"
    upstream = Upstream(args.upstream, allow_remote=args.allow_remote_upstream) if args.record else None
    ignore = DEFAULT_IGNORED if args.match_ignore is None else tuple(args.match_ignore)
    sessions: dict[str, CassetteSession] = {}
    lock = threading.Lock()

    def session_for(name: str | None) -> CassetteSession:
        name = (name or args.cassette).strip().strip("/")
        parts = [part for part in name.split("/") if part]
        if not parts or any(part in (".", "..") for part in parts):
            parts = [args.cassette]
        key = "/".join(parts)
        with lock:
            session = sessions.get(key)
            if session is None:
                redactor = Redactor(args.redact_header, args.redact_field)
                hint = (
                    f"python -m fake_lms serve --record {directory} --upstream <LM Studio URL> "
                    f"--record-mode new_episodes (cassette {key})"
                )
                session = sessions[key] = CassetteSession(
                    directory.joinpath(*parts).with_suffix(".yaml"),
                    mode,
                    matcher=Matcher(ignore, redactor),
                    redactor=redactor,
                    record_hint=hint,
                    autosave=True,
                )
            return session

    fake.cassettes = RecordReplay(upstream, pacing=args.pacing, sessions=session_for)
    return None
