"""Reading requests: headers read lazily from the WSGI environ (same answers as building them all)
and JSON bodies parsed by a shortcut (same answers as ``json.loads``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from fake_lms.api.types import parse_json
from fake_lms.server.http import RequestHeaders, request_headers

HEADER_SETS = [
    {},
    {"Authorization": "Bearer sk-lm-AbCd1234:abcdefghij0123456789", "X-Api-Key": "k"},
    {"Content-Type": "application/json", "X-Empty": "", "Accept": "*/*"},
    {"X-Stainless-Retry-Count": "0", "User-Agent": "OpenAI/Python 3.52.0"},
]
NAMES = [
    "authorization",
    "x-api-key",
    "content-type",
    "content-length",
    "x-empty",
    "x-stainless-retry-count",
    "user-agent",
    "host",
    "missing",
    "Authorization",  # names are lower-cased keys: no match, as in a dict
    "x_api_key",
]


def environ(headers: dict[str, str], data: bytes | None = b"{}") -> dict:
    return EnvironBuilder(path="/v1/models", method="POST", data=data, headers=headers).get_environ()


@pytest.mark.parametrize("headers", HEADER_SETS)
@pytest.mark.parametrize("data", [b"{}", None])
def test_lazy_headers_answer_like_the_full_mapping(headers: dict[str, str], data: bytes | None) -> None:
    env = environ(headers, data)
    full = request_headers(env)
    for name in NAMES:
        assert RequestHeaders(env).get(name) == full.get(name), name
        assert RequestHeaders(env).get(name, "dflt") == full.get(name, "dflt"), name
        assert (name in RequestHeaders(env)) == (name in full), name
    lazy = RequestHeaders(env)
    assert dict(lazy) == full and lazy == full and len(lazy) == len(full)
    with pytest.raises(KeyError):
        RequestHeaders(env)["missing"]


def test_full_mapping_matches_werkzeug() -> None:
    env = environ({"Authorization": "Bearer x", "X-Multi-Word-Header": "v", "Content-Type": "text/plain"})
    expected = {name.lower(): value for name, value in Request(env).headers.items()}
    assert dict(RequestHeaders(env)) == expected


JSON_DOCUMENTS = [
    '{"model":"m","messages":[{"role":"user","content":"hi"}]}',
    "[1,2]",
    ' {"a":1}',
    '{"a":1} ',
    '{"a":1}x',
    '{"a":1}{"b":2}',
    '{"a":',
    "{",
    "[",
    "",
    "null",
    '"s"',
    '{"a":NaN}',
    "[1,]",
    '{"a":"\\ud800"}',
    '{"k":{"n":[1,{"x":null}]}}',
]


@pytest.mark.parametrize("text", JSON_DOCUMENTS)
def test_parse_json_is_json_loads(text: str) -> None:
    def outcome(parse: Any) -> tuple[Any, ...]:
        try:
            return ("value", parse(text))
        except ValueError as exc:
            return ("error", type(exc), str(exc))

    assert outcome(parse_json) == outcome(json.loads)
