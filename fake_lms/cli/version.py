"""``lms version``, ``lms -v/--version`` and the banner of a bare ``lms`` (spec §4.3)."""

from __future__ import annotations

import json

from fake_lms.cli.context import Ctx
from fake_lms.cli.output import Console, Style

# Real lms reports the git commit it was built from. The fake reports a fixed, commit-shaped value.
COMMIT = "fa4e1a5"

LOGO = (
    "   __   __  ___  ______          ___        _______   ____",
    "  / /  /  |/  / / __/ /___ _____/ (_)__    / ___/ /  /  _/",
    " / /__/ /|_/ / _\\ \\/ __/ // / _  / / _ \\  / /__/ /___/ /  ",
    "/____/_/  /_/ /___/\\__/\\_,_/\\_,_/_/\\___/  \\___/____/___/  ",
)
LOGO_COLOURS = (166, 214, 226, 46, 51, 141)


def print_compact(console: Console, style: Style) -> None:
    console.out(
        style.blue("lms"), "is LM Studio's CLI utility for your models, server, and inference runtime."
    )
    console.out(style.dim("CLI commit:"), style.cyan(COMMIT))


def version(ctx: Ctx) -> int:
    console, style = ctx.console, ctx.style
    if ctx.opts["json"]:
        console.out(json.dumps({"version": COMMIT}, separators=(",", ":")))
        return 0
    for index, line in enumerate(LOGO):  # real lms writes these colour codes unconditionally
        console.out(f"\x1b[38;5;{LOGO_COLOURS[index % len(LOGO_COLOURS)]}m{line}\x1b[0m")
    console.out()
    print_compact(console, style)
    console.out()
    console.out(style.blue("Docs: https://lmstudio.ai/docs/developer"))
    console.out(style.blue("Join our Discord: https://discord.gg/lmstudio"))
    console.out(style.blue("Contribute: https://github.com/lmstudio-ai/lms"))
    return 0
