"""Writing files that other processes read while they are being replaced.

:func:`write_bytes_atomic` suits any file: a reader sees the old content or the new one. For a
file every writer of which holds one lock (a home's state file), :func:`replace_under_lock` does
the same work without renaming over the old file, which ext4 answers by writing the new file's
blocks out at once (``auto_da_alloc``): ~0.1 ms on a quiet disk and milliseconds on a busy one,
twice in a typical ``lmstudio_fake`` test. Its readers must know that the file is briefly missing
(they take the lock and read again) and call :func:`recover_under_lock` when it stays missing."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


def _temporary(path: Path) -> Path:
    """A temporary file beside ``path``, per process and thread (concurrent writers never share one);
    :func:`discard_leftovers_under_lock` finds them by this name."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``: a reader
    sees the old content or the new one, never a half-written file (per process and thread, so
    concurrent writers never share a temporary file)."""
    tmp = _temporary(path)
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any, *, indent: int | None = 1) -> None:
    """:func:`write_bytes_atomic` for JSON."""
    write_bytes_atomic(path, json.dumps(data, indent=indent).encode("utf-8"))


def _previous(path: Path) -> Path:
    return path.with_name(f".{path.name}.prev")


def replace_under_lock(path: Path, data: bytes) -> None:
    """Replace ``path``'s content with ``data``; the caller holds the lock every writer of ``path``
    takes. The new content is written beside it, ``path`` is renamed to ``.<name>.prev``, the new
    file renamed to ``path``, and the previous one removed: between the two renames ``path`` is
    missing, and a reader that finds it so must take the lock and read again. A writer killed
    between them leaves the previous content for :func:`recover_under_lock`. Nothing is synced to
    disk: after a power loss or a kernel crash ``path`` may be empty (its reader then rebuilds it;
    a fake's home can afford that)."""
    tmp = _temporary(path)
    tmp.write_bytes(data)
    previous = _previous(path)
    try:
        os.replace(path, previous)
    except FileNotFoundError:  # the first write, or one after a writer died mid-replace
        previous_content = False
    else:
        previous_content = True
    os.rename(tmp, path)
    if previous_content:
        os.unlink(previous)


def discard_leftovers_under_lock(path: Path) -> None:
    """For a caller holding the writers' lock, with ``path`` in place: remove what writers killed
    in :func:`replace_under_lock` left beside it (its temporary files, and a ``.prev`` older than
    ``path``, which must never be put back over it)."""
    for leftover in [_previous(path), *path.parent.glob(f".{path.name}.*.tmp")]:
        try:
            leftover.unlink()
        except FileNotFoundError:
            pass


def recover_under_lock(path: Path) -> bool:
    """For a caller holding the writers' lock that finds ``path`` missing: put back the content a
    writer killed in the middle of :func:`replace_under_lock` left; whether there was any."""
    try:
        os.rename(_previous(path), path)
    except FileNotFoundError:
        return False
    return True
