"""``--gc-log FILE``: the serve process's garbage collections, timed, for benchmarks.

Each collection appends one line ``<generation> <pause ms> <objects collected>`` to the file, as
``gc.callbacks`` see it (start to stop, in the thread that triggered it). Off unless asked for:
nothing is timed or written otherwise.
"""

from __future__ import annotations

import gc
import time
from typing import IO, Any

_state: dict[str, Any] = {}


def _callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _state["started"] = time.perf_counter()
        return
    started = _state.pop("started", None)
    out: IO[str] | None = _state.get("file")
    if started is None or out is None:
        return
    pause_ms = (time.perf_counter() - started) * 1000
    out.write(f"{info['generation']} {pause_ms:.3f} {info['collected']}\n")


def start(path: str) -> None:
    """Time every collection from now on, appending to ``path`` (line-buffered)."""
    stop()
    _state["file"] = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (closed by stop)
    gc.callbacks.append(_callback)


def stop() -> None:
    """Stop timing and close the file (no-op when not started)."""
    if _callback in gc.callbacks:
        gc.callbacks.remove(_callback)
    out = _state.pop("file", None)
    if out is not None:
        out.close()
