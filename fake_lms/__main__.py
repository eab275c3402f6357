"""``python -m fake_lms``: the fake ``lms`` command; ``python -m fake_lms serve`` runs the server."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "serve":
        from fake_lms.server import serve

        return serve.main(args[1:])
    from fake_lms.cli import main as cli

    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
