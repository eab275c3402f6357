"""``python -m fake_lms`` (also the ``fake-lms`` command): the fake ``lms`` command;
``python -m fake_lms serve`` runs the fake LM Studio server."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

OVERVIEW = """\
Usage: fake-lms serve [options]      run the fake LM Studio server (fake-lms serve --help)
       fake-lms <command> [options]  the fake `lms`, on the home the server uses

The fake `lms` needs LMS_FAKE_HOME: the directory of the fake server's home
(fake-lms serve --home DIR), never a real LM Studio home:

  export LMS_FAKE_HOME=/tmp/fake-lmstudio
  fake-lms serve --home "$LMS_FAKE_HOME" --port 1234 &
  fake-lms ls

`lms` commands the fake implements:
{commands}

With LMS_FAKE_HOME set, `fake-lms --help` prints the fake lms's own help, as `lms --help` does.
"""


def overview() -> str:
    """The help for both halves, which needs no home."""
    from fake_lms.cli.main import PROGRAM

    rows = [(c.name, c.description) for c in PROGRAM.subcommands if not c.hidden and not c.passthrough]
    width = max(len(name) for name, _ in rows)
    return OVERVIEW.format(commands="\n".join(f"  {name.ljust(width)}  {text}" for name, text in rows))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "serve":
        from fake_lms.server import serve

        return serve.main(args[1:])
    if (not args or args[0] in ("-h", "--help", "help")) and not os.environ.get("LMS_FAKE_HOME", "").strip():
        print(overview(), end="")
        return 0
    from fake_lms.cli import main as cli

    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
