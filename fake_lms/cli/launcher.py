"""Put the fake ``lms`` on PATH: :func:`install_lms` writes an executable ``lms`` script that runs
the fake with the Python interpreter that installed it.

The project never installs a global ``lms``; tests and users choose a directory (a temporary one,
or ``<fake OS home>/.lmstudio/bin`` where tools look for LM Studio's ``lms``) and prepend it to
``PATH``::

    from fake_lms.cli.launcher import install_lms
    lms = install_lms(tmp_path / "bin", home=fake_home)   # -> tmp_path/bin/lms
    env = {**os.environ, "PATH": f"{lms.parent}{os.pathsep}{os.environ['PATH']}"}

``fake_lms/bin/lms`` is a checked-in equivalent that uses ``/usr/bin/env python3``.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

__all__ = ["install_lms", "launcher_script"]

# Linux passes at most 127 bytes of a shebang line to the kernel on older releases (256 on newer)
_MAX_SHEBANG = 120
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


def launcher_script(python: str | None = None, home: str | os.PathLike[str] | None = None) -> str:
    """The text of an ``lms`` launcher for ``python`` (default: this interpreter).

    ``home`` is a default for ``LMS_FAKE_HOME``, used only when the caller's environment does not set
    it (for tools that run ``lms`` with a scrubbed environment).
    """
    python = python or sys.executable
    default_home = repr(str(Path(home).absolute())) if home is not None else None
    if len(python) <= _MAX_SHEBANG and not any(c.isspace() for c in python):
        lines = [
            f"#!{python}",
            "# The fake `lms` of pytest-lmstudio (written by fake_lms.cli.launcher.install_lms).",
            "import sys",
        ]
        if default_home:
            lines += ["import os", f'os.environ.setdefault("LMS_FAKE_HOME", {default_home})']
        lines += [
            f"sys.path.append({_PACKAGE_PARENT!r})  # used only if fake_lms is not installed",
            "from fake_lms.cli.main import main",
            "",
            "sys.exit(main(sys.argv[1:]))",
        ]
        return "\n".join(lines) + "\n"
    # an interpreter path the kernel cannot take as a shebang: go through sh
    quoted = "'" + python.replace("'", "'\\''") + "'"
    lines = [
        "#!/bin/sh",
        "# The fake `lms` of pytest-lmstudio (written by fake_lms.cli.launcher.install_lms).",
    ]
    if default_home:
        home_q = "'" + str(Path(home).absolute()).replace("'", "'\\''") + "'"  # type: ignore[arg-type]
        lines.append(f': "${{LMS_FAKE_HOME:={home_q}}}"; export LMS_FAKE_HOME')
    package_q = "'" + _PACKAGE_PARENT.replace("'", "'\\''") + "'"
    code = "import sys; from fake_lms.cli.main import main; sys.exit(main(sys.argv[1:]))"
    lines.append(f'PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}"{package_q} exec {quoted} -c \'{code}\' "$@"')
    return "\n".join(lines) + "\n"


def install_lms(
    directory: str | os.PathLike[str],
    *,
    home: str | os.PathLike[str] | None = None,
    python: str | None = None,
    name: str = "lms",
) -> Path:
    """Write an executable ``lms`` launcher into ``directory`` (created if needed); return its path."""
    target_dir = Path(directory)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / name
    tmp = target.with_name(f".{name}.{os.getpid()}.tmp")
    tmp.write_text(launcher_script(python, home), encoding="utf-8")
    mode = tmp.stat().st_mode
    tmp.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH | stat.S_IRUSR)
    os.replace(tmp, target)
    return target
