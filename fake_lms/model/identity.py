"""Who the fake says it is.

``LMSTUDIO_VERSION`` is the one place the reported LM Studio version is written down: ``/lms-status``,
the SDK's ``system.version`` / ``system.info``, ``lms daemon status|up --json`` and the plugin's
header all report it, unless a home's ``lmstudio_version`` setting (``FakeLMStudio(lmstudio_version=
...)``, ``python -m fake_lms serve --lmstudio-version``, ``--lmstudio-fake-version``) says otherwise.
0.4.24+1 is the newest build with a public release record (microsoft/winget-pkgs#431780,
2026-09-09; fidelity review §1).
"""

from __future__ import annotations

import re

LMSTUDIO_VERSION = "0.4.24+1"
PACKAGE = "lmstudio"  # /lms-status "package" (lmstudio-js findOrStartLlmster.test.ts; review row 2)

_VERSION = re.compile(r"\d+\.\d+\.\d+(?:\+\d+)?")


def check_version(value: object) -> str:
    """``value`` if it is a version as LM Studio writes it (``0.4.24+1``, ``0.3.14``)."""
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        raise ValueError(f"lmstudio_version must look like 0.4.24+1, not {value!r}")
    return value
