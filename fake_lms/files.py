"""Writing files that other processes read while they are being replaced."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``: a reader
    sees the old content or the new one, never a half-written file (per process and thread, so
    concurrent writers never share a temporary file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any, *, indent: int = 1) -> None:
    """:func:`write_bytes_atomic` for JSON."""
    write_bytes_atomic(path, json.dumps(data, indent=indent).encode("utf-8"))
