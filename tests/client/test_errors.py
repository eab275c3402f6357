"""The error hierarchy, body parsing, mapping and redaction (pure functions, no HTTP)."""

from __future__ import annotations

import json
import pickle

import pytest
from _client_samples import (
    MODEL_NOT_FOUND_400,
    NO_MODELS_LOADED_OAI,
    NO_MODELS_LOADED_STRING,
    NO_MODELS_MESSAGE,
    TOKEN,
    UNAUTHORIZED_401,
    unexpected,
)

from pytest_lmstudio import errors as E
from pytest_lmstudio.errors import error_from_response, is_unexpected_endpoint, parse_error_body, redact

URL = "http://127.0.0.1:1234"


def _err(status: int, body: object, path: str = "/v1/chat/completions", **kw: object) -> E.LMStudioError:
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    return error_from_response(
        status,
        raw,
        method="POST",
        url=URL + path,
        base_url=URL,
        path=path,
        **kw,  # type: ignore[arg-type]
    )


def test_hierarchy() -> None:
    subclasses = [
        E.ServerNotRunning,
        E.ModelNotFound,
        E.ModelNotLoaded,
        E.Unauthorized,
        E.LmsNotFound,
        E.BadRequest,
        E.LMStudioTimeout,
        E.WrongEndpoint,
        E.ServerError,
        E.StreamError,
        E.DownloadFailed,
        E.LoadFailed,
        E.BadResponse,
        E.InvalidBaseURL,
        E.LmsCommandFailed,
    ]
    for cls in subclasses:
        assert issubclass(cls, E.LMStudioError), cls
    assert issubclass(E.ServerNotRunning, ConnectionError)
    assert issubclass(E.LMStudioTimeout, TimeoutError)
    assert issubclass(E.LmsNotFound, FileNotFoundError)
    assert issubclass(E.InvalidBaseURL, ValueError)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"error":"\'messages\' field is required"}', ("'messages' field is required", None, None)),
        (
            json.dumps(MODEL_NOT_FOUND_400),
            (MODEL_NOT_FOUND_400["error"]["message"], "model_not_found", "model"),
        ),
        (json.dumps(NO_MODELS_LOADED_OAI), (NO_MODELS_MESSAGE, None, "model")),
        (
            '{"error":{"type":"job_not_found","message":"No job job_x"}}',
            ("No job job_x", "job_not_found", None),
        ),
        (
            '{"error":{"message":"\'input.0.content\' is required","type":"invalid_request",'
            '"code":"invalid_union","param":"input"}}',
            ("'input.0.content' is required", "invalid_union", "input"),
        ),
        (
            '{"type":"error","error":{"type":"api_error","message":"context overflow"}}',
            ("context overflow", None, None),
        ),
        ('{"detail":"nope"}', ("nope", None, None)),
        ("Internal Server Error", ("Internal Server Error", None, None)),
        ("", (None, None, None)),
        (b"  \n", (None, None, None)),
        (None, (None, None, None)),
        ("[1, 2]", (None, None, None)),
    ],
)
def test_parse_error_body_shapes(body: str | bytes | None, expected: tuple) -> None:
    assert parse_error_body(body)[:3] == expected


def test_is_unexpected_endpoint() -> None:
    assert is_unexpected_endpoint(unexpected("GET", "/models"))
    assert not is_unexpected_endpoint({"error": "No models loaded."})
    assert not is_unexpected_endpoint({"data": []})
    assert not is_unexpected_endpoint("Unexpected endpoint or method. (GET /x)")


def test_wrong_endpoint_mapping() -> None:
    err = _err(200, unexpected("GET", "/models"), path="/models")
    assert type(err) is E.WrongEndpoint
    assert err.server_message == "Unexpected endpoint or method. (GET /models)"
    assert "does not serve POST /models" in err.message


def test_wrong_endpoint_mentions_version_for_native_routes() -> None:
    err = _err(200, unexpected("POST", "/api/v1/models/load"), path="/api/v1/models/load", api_key=TOKEN)
    assert "LM Studio 0.4.0 or newer" in str(err)
    assert "LM_API_TOKEN" not in str(err)  # a key was sent: no auth hint


def test_unauthorized_mapping_keeps_server_words() -> None:
    err = _err(401, UNAUTHORIZED_401)
    assert type(err) is E.Unauthorized
    assert (err.status_code, err.code) == (401, "invalid_api_key")
    assert err.server_message == UNAUTHORIZED_401["error"]["message"]
    assert "LM_API_TOKEN" in str(err)
    assert type(_err(403, "")) is E.Unauthorized


def test_model_not_found_mapping() -> None:
    err = _err(400, MODEL_NOT_FOUND_400, model="o4-mini")
    assert type(err) is E.ModelNotFound
    assert err.model == "o4-mini"
    assert str(err).startswith('Model "o4-mini" not found on LM Studio at http://127.0.0.1:1234')
    assert str(err).endswith("download it with `lms get o4-mini`.")


def test_model_not_found_on_embeddings_mentions_embedding_models() -> None:
    body = {"error": {"message": "not an embedding model", "code": "model_not_found"}}
    err = _err(400, body, path="/v1/embeddings", model="qwen/qwen3-4b")
    assert type(err) is E.ModelNotFound
    assert str(err).endswith(
        "download it with `lms get qwen/qwen3-4b` (embeddings need an embedding model: `lms ls --embedding`"
        " lists them)."
    )


def test_model_not_found_takes_key_from_message_when_request_had_none() -> None:
    err = _err(400, MODEL_NOT_FOUND_400)
    assert err.model == "o4-mini"


@pytest.mark.parametrize("body", [NO_MODELS_LOADED_OAI, NO_MODELS_LOADED_STRING])
@pytest.mark.parametrize("status", [400, 404])
def test_no_models_loaded_mapping(body: dict, status: int) -> None:
    err = _err(status, body, model="qwen/qwen3-4b")
    assert type(err) is E.ModelNotLoaded
    assert "`lms load qwen/qwen3-4b`" in str(err)
    assert "`lms load <model-key>`" in str(_err(status, body))


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, E.BadRequest),
        (404, E.BadRequest),
        (422, E.BadRequest),
        (500, E.ServerError),
        (503, E.ServerError),
    ],
)
def test_status_classes(status: int, cls: type) -> None:
    err = _err(status, {"error": "x"})
    assert type(err) is cls
    assert err.status_code == status and err.server_message == "x"


def test_unusual_status_is_bad_response() -> None:
    assert type(_err(302, "")) is E.BadResponse
    assert type(_err(200, {"error": "weird"})) is E.BadResponse


def test_body_is_truncated() -> None:
    err = _err(500, "x" * 5000)
    assert err.body is not None and len(err.body) == 2000
    assert err.server_message is not None and len(err.server_message) == 300


def test_redact() -> None:
    assert redact(f"key {TOKEN} here", TOKEN) == "key *** here"
    assert redact(f"Malformed LM Studio API token provided: {TOKEN[:10]}... Ensure", TOKEN) == (
        "Malformed LM Studio API token provided: ***... Ensure"
    )
    # no known secret: LM Studio-shaped tokens are still masked
    assert redact("token sk-lm-abcdefgh:abcdefghijklmnopqrst was bad") == "token sk-lm-*** was bad"
    assert redact("Malformed LM Studio API token provided: mysecret12... Ensure") == (
        "Malformed LM Studio API token provided: ***... Ensure"
    )
    assert redact(None, TOKEN) is None
    assert redact("nothing secret", "abc") == "nothing secret"


def test_key_never_in_error() -> None:
    secret = "my-very-secret-token-123"
    body = {"error": {"code": "invalid_api_key", "message": f"bad token {secret}"}}
    err = _err(401, body, api_key=secret)
    for text in (str(err), repr(err), err.body or "", err.server_message or ""):
        assert secret not in text and secret[:8] not in text


def test_errors_pickle_with_attributes() -> None:
    err = _err(400, MODEL_NOT_FOUND_400, model="o4-mini")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is E.ModelNotFound
    assert (str(copy), copy.status_code, copy.code, copy.model) == (
        str(err),
        400,
        "model_not_found",
        "o4-mini",
    )
    lms = pickle.loads(pickle.dumps(E.LmsNotFound("gone", searched=["a", "b"])))
    assert lms.searched == ["a", "b"] and str(lms) == "gone"
