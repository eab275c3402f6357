"""``python -m fake_lms serve``: run a fake LM Studio in the foreground until SIGINT/SIGTERM.

The first line on stdout is the server's root URL, printed once it accepts connections, so a
parent process can read one line and start talking to it.
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
        fake.start()
    except (CatalogError, StateError, OSError) as exc:
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
