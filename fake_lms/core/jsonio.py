"""JSON as LM Studio (Express) writes and reads it: compact output, non-ASCII kept, and a parser
that gives exactly ``json.loads``'s values and errors."""

from __future__ import annotations

import json
import json.scanner
from typing import Any

_DECODER = json.JSONDecoder()
_SCAN = json.scanner.make_scanner(_DECODER)  # type: ignore[arg-type]  # the C scanner, if any
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # one encoder, not one per call


def parse_json(text: str) -> Any:
    """``json.loads(text)``. A document that starts and ends with its value (as clients send
    them) goes straight to the scanner; anything else, errors included, through ``json``'s own
    decoder, so the result and the error messages are the same."""
    if text[:1] in ("{", "["):
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:
            pass
        else:
            if end == len(text):
                return value
    return _DECODER.decode(text)


def dumps(obj: Any) -> str:
    """Compact JSON as LM Studio (Express) writes it."""
    return _ENCODER.encode(obj)


json_str = json.encoder.encode_basestring
"""A string as a JSON string literal, non-ASCII kept: what :func:`dumps` writes for a ``str``."""
