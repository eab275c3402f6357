"""``lms link status [--json]`` (lms ``src/subcommands/link/status.ts``): LM Link, always disabled.

The fake has no LM Link, so it reports what LM Studio reports for a device on which LM Link is
disabled: issue ``deviceDisabled``, status ``offline``, no peers. ``--json`` prints the SDK's
``LMLinkStatusResult`` (key order of its zod schema) on stdout; the text goes to stderr (the logger).
"""

from __future__ import annotations

import json
import socket

from fake_lms.cli.context import Ctx


def link_status() -> dict[str, object]:
    return {
        "status": "offline",
        "issues": ["deviceDisabled"],
        "peers": [],
        "deviceIdentifier": None,
        "deviceName": socket.gethostname(),
    }


def status(ctx: Ctx) -> int:
    ctx.connect()
    if ctx.opts["json"]:
        ctx.console.out(json.dumps(link_status(), separators=(",", ":"), ensure_ascii=False))
        return 0
    ctx.logger.info(f"You have disabled LM Link. To re-enable it, run {ctx.style.cyan('lms link enable')}.")
    return 0
