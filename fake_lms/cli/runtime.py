"""``lms runtime ls`` (lms ``src/subcommands/runtime/list.ts``): the installed LLM engines.

The fake has one engine, the one its ``/api/v0`` responses name in their ``runtime`` block:
``llama.cpp-linux-x86_64-avx2`` version ``1.52.0``, for GGUF, selected. Real ``lms runtime ls`` has
no ``--json`` (commander rejects it, as here). The table is npm ``columnify`` with lms's settings:
``LLM ENGINE`` left-aligned, ``SELECTED`` and ``MODEL FORMAT`` centred, four-space separators.
"""

from __future__ import annotations

from fake_lms.cli.context import Ctx
from fake_lms.cli.output import display_width

ENGINE_NAME = "llama.cpp-linux-x86_64-avx2"
ENGINE_VERSION = "1.52.0"
ENGINE_FORMATS = ("GGUF",)


def _pad(cell: str, width: int, align: str) -> str:
    """columnify's padRight / padCenter (the left part of a centred cell gets the smaller half)."""
    spaces = width - display_width(cell)
    if spaces <= 0:
        return cell
    if align == "center":
        left = spaces // 2
        return " " * left + cell + " " * (spaces - left)
    return cell + " " * spaces


def engine_table() -> str:
    columns = [("LLM ENGINE", "left"), ("SELECTED", "center"), ("MODEL FORMAT", "center")]
    rows = [
        ["LLM ENGINE", "SELECTED", "MODEL FORMAT"],
        [f"{ENGINE_NAME}@{ENGINE_VERSION}", "✓", ", ".join(ENGINE_FORMATS)],
    ]
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(columns))]
    return "\n".join(
        "    ".join(_pad(cell, widths[i], columns[i][1]) for i, cell in enumerate(row)) for row in rows
    )


def ls(ctx: Ctx) -> int:
    ctx.connect()
    ctx.console.out(engine_table())
    return 0
