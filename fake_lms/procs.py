"""Process liveness, shared by the fake server, the fake ``lms`` and the pytest plugin."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int) -> bool:
    """Is ``pid`` running? A zombie nobody reaped (containers without an init, or a child of
    another process) has exited and counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_fake_server(pid: int) -> bool:
    """Is ``pid`` a fake LM Studio? Never signal an unrelated process that reused a stale pid
    (checked where /proc exists; elsewhere the pid is trusted)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True
    return b"fake_lms" in cmdline or any(part.endswith(b"fake-lms") for part in cmdline)
