"""Error mapping against deliberately odd servers (pytest-httpserver), sync and async."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from _client_samples import (
    MODEL_NOT_FOUND_400,
    NATIVE_MODELS,
    NO_MODELS_LOADED_OAI,
    NO_MODELS_LOADED_STRING,
    NO_MODELS_MESSAGE,
    TOKEN,
    UNAUTHORIZED_401,
    aclient,
    chunk,
    client,
    closed_port_url,
    root,
    sse,
    unexpected,
)
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from pytest_lmstudio.client.results import TextDelta
from pytest_lmstudio.errors import (
    BadRequest,
    BadResponse,
    DownloadFailed,
    LMStudioError,
    LMStudioTimeout,
    LoadFailed,
    ModelNotFound,
    ModelNotLoaded,
    ServerError,
    ServerNotRunning,
    StreamError,
    Unauthorized,
    WrongEndpoint,
)


def test_unexpected_endpoint_200_raises_wrong_endpoint(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_json(
        unexpected("POST", "/v1/chat/completions")
    )
    with client(httpserver) as lms, pytest.raises(WrongEndpoint) as info:
        lms.chat("hi", model="m")
    err = info.value
    assert err.status_code == 200
    assert err.server_message == "Unexpected endpoint or method. (POST /v1/chat/completions)"
    assert err.method == "POST" and err.url == root(httpserver) + "/v1/chat/completions"
    assert "does not serve POST /v1/chat/completions" in str(err)
    assert "http://127.0.0.1:1234" in str(err)  # tells the right form
    assert "set LM_API_TOKEN" in str(err)  # no key was sent: mention the auth quirk


@pytest.mark.parametrize(
    ("method_name", "path", "http_method"),
    [
        ("greeting", "/lmstudio-greeting", "GET"),
        ("loaded", "/api/v1/models", "GET"),
        ("load", "/api/v1/models/load", "POST"),
        ("unload", "/api/v1/models/unload", "POST"),
        ("download", "/api/v1/models/download", "POST"),
        ("complete", "/v1/completions", "POST"),
        ("embed", "/v1/embeddings", "POST"),
        ("respond", "/v1/responses", "POST"),
    ],
)
def test_every_method_checks_for_unexpected_endpoint(
    httpserver: HTTPServer, method_name: str, path: str, http_method: str
) -> None:
    httpserver.expect_request(path).respond_with_json(unexpected(http_method, path))
    if method_name == "loaded":  # falls back to v0 then /v1/models: make every route unknown
        httpserver.expect_request("/api/v0/models").respond_with_json(unexpected("GET", "/api/v0/models"))
        httpserver.expect_request("/v1/models").respond_with_json(unexpected("GET", "/v1/models"))
    args = {"greeting": (), "loaded": ()}.get(method_name, ("x",))
    with client(httpserver) as lms, pytest.raises(WrongEndpoint) as info:
        getattr(lms, method_name)(*args)
    assert info.value.status_code == 200


def test_models_with_all_routes_unknown_raises_wrong_endpoint_for_v1_models(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v0/models").respond_with_json(unexpected("GET", "/api/v0/models"))
    httpserver.expect_request("/v1/models").respond_with_json(unexpected("GET", "/v1/models"))
    with client(httpserver) as lms, pytest.raises(WrongEndpoint) as info:
        lms.models()
    assert info.value.url == root(httpserver) + "/v1/models"


def test_401_exact_lm_studio_body_without_key(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v0/models").respond_with_json(UNAUTHORIZED_401, status=401)
    with client(httpserver) as lms, pytest.raises(Unauthorized) as info:
        lms.models()
    err = info.value
    assert err.status_code == 401
    assert err.code == "invalid_api_key"
    assert err.server_message == UNAUTHORIZED_401["error"]["message"]
    assert json.loads(err.body or "") == UNAUTHORIZED_401
    assert "no API token was sent" in str(err)
    assert "LM_API_TOKEN" in str(err)


def test_401_with_key_never_leaks_the_key(httpserver: HTTPServer) -> None:
    body = {
        "error": {
            "type": "invalid_request",
            "code": "invalid_api_key",
            "message": f"Malformed LM Studio API token provided: {TOKEN[:10]}..."
            " Ensure you are using a valid token.",
        }
    }
    httpserver.expect_request(
        "/v1/chat/completions", headers={"Authorization": f"Bearer {TOKEN}"}
    ).respond_with_json(body, status=401)
    with client(httpserver, api_key=TOKEN) as lms, pytest.raises(Unauthorized) as info:
        lms.chat("x", model="m")
    err = info.value
    for text in (str(err), repr(err), err.server_message or "", err.body or ""):
        assert TOKEN[:8] not in text
        assert TOKEN not in text
    assert "was not accepted" in str(err)
    assert (
        err.server_message
        == "Malformed LM Studio API token provided: ***... Ensure you are using a valid token."
    )


def test_400_model_not_found(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_json(MODEL_NOT_FOUND_400, status=400)
    with client(httpserver) as lms, pytest.raises(ModelNotFound) as info:
        lms.chat("x", model="o4-mini")
    err = info.value
    assert (err.status_code, err.code, err.model) == (400, "model_not_found", "o4-mini")
    assert err.server_message == MODEL_NOT_FOUND_400["error"]["message"]
    assert "`lms get o4-mini`" in str(err) and "`lms ls`" in str(err)


def test_404_model_not_found_old_shape(httpserver: HTTPServer) -> None:
    body = {
        "error": {
            "message": 'Model "local model" not found. Please specify a valid model.'
            "\n\nYour models:\n\nqwen/qwen3-4b",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }
    httpserver.expect_request("/v1/completions").respond_with_json(body, status=404)
    with client(httpserver) as lms, pytest.raises(ModelNotFound) as info:
        lms.complete("x", model="local model")
    assert info.value.status_code == 404
    assert info.value.model == "local model"


@pytest.mark.parametrize(
    "body", [NO_MODELS_LOADED_OAI, NO_MODELS_LOADED_STRING], ids=["oai-shape", "string-shape"]
)
def test_400_no_models_loaded(httpserver: HTTPServer, body: dict) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_json(body, status=400)
    with client(httpserver) as lms, pytest.raises(ModelNotLoaded) as info:
        lms.chat("x", model="qwen/qwen3-4b")
    err = info.value
    assert err.status_code == 400
    assert err.server_message == NO_MODELS_MESSAGE
    assert "`lms load qwen/qwen3-4b`" in str(err)


def test_other_400_is_bad_request_with_server_message(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_json(
        {"error": "'response_format.type' must be 'json_schema' or 'text'"}, status=400
    )
    with client(httpserver) as lms, pytest.raises(BadRequest) as info:
        lms.chat("x", model="m", response_format={"type": "json_object"})
    assert info.value.server_message == "'response_format.type' must be 'json_schema' or 'text'"
    assert info.value.code is None
    assert "(HTTP 400)" in str(info.value)


def test_500_without_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/embeddings").respond_with_data("", status=500)
    with client(httpserver) as lms, pytest.raises(ServerError) as info:
        lms.embed("x", model="m")
    err = info.value
    assert (err.status_code, err.server_message, err.body) == (500, None, None)
    assert "empty body" in str(err) and "lms log stream" in str(err)


def test_non_json_error_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/responses").respond_with_data(
        "<html>Bad Gateway</html>", status=502, content_type="text/html"
    )
    with client(httpserver) as lms, pytest.raises(ServerError) as info:
        lms.respond("x", model="m")
    assert info.value.server_message == "<html>Bad Gateway</html>"


def test_non_json_success_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v0/models").respond_with_data(
        "<html>hello</html>", content_type="text/html"
    )
    with client(httpserver) as lms, pytest.raises(BadResponse) as info:
        lms.models()
    assert "not JSON" in str(info.value) and "'<html>hello</html>'" in str(info.value)


def test_empty_success_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/models/unload").respond_with_data("")
    with client(httpserver) as lms, pytest.raises(BadResponse, match="empty body"):
        lms.unload("x")


def test_models_without_data_array(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v0/models").respond_with_json({})
    with client(httpserver) as lms, pytest.raises(BadResponse, match="without a 'data' array"):
        lms.models()


def test_chat_without_choices(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_json({"id": "x", "choices": []})
    with client(httpserver) as lms, pytest.raises(BadResponse, match="without choices"):
        lms.chat("x")


def test_connection_refused_is_server_not_running() -> None:
    url = closed_port_url()
    with client(url) as lms:
        with pytest.raises(ServerNotRunning) as info:
            lms.models()
        assert lms.is_running() is False
    message = str(info.value)
    assert message.startswith(f"LM Studio server not running at {url}")
    assert "`lms server start`" in message
    assert isinstance(info.value, ConnectionError)


def test_env_base_url_is_named_when_server_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_lmstudio.client import LMStudioClient

    url = closed_port_url()
    monkeypatch.setenv("LMSTUDIO_BASE_URL", url + "/v1")
    monkeypatch.delenv("LMSTUDIO_URL", raising=False)
    with LMStudioClient() as lms, pytest.raises(ServerNotRunning, match="base URL from LMSTUDIO_BASE_URL"):
        lms.greeting()


def _slow(request: Request) -> Response:
    time.sleep(0.4)
    return Response(json.dumps({"lmstudio": True}), content_type="application/json")


def test_read_timeout_is_lmstudio_timeout(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v0/models").respond_with_handler(_slow)
    with client(httpserver, timeout=0.1) as lms, pytest.raises(LMStudioTimeout) as info:
        lms.models()
    assert "within 0.1 s" in str(info.value)
    assert isinstance(info.value, TimeoutError)


def test_load_failure_is_load_failed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/models/load").respond_with_json(
        {"error": {"type": "internal_error", "message": "Failed to load model: insufficient memory"}},
        status=500,
    )
    with client(httpserver) as lms, pytest.raises(LoadFailed) as info:
        lms.load("openai/gpt-oss-20b")
    err = info.value
    assert err.status_code == 500
    assert err.server_message == "Failed to load model: insufficient memory"
    assert "`lms load openai/gpt-oss-20b`" in str(err)


def test_load_unknown_model_is_model_not_found(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/models/load").respond_with_json(
        {"error": {"type": "model_not_found", "message": 'Model "nope/x" not found'}}, status=404
    )
    with client(httpserver) as lms, pytest.raises(ModelNotFound) as info:
        lms.load("nope/x")
    assert (info.value.code, info.value.model) == ("model_not_found", "nope/x")


def test_unload_unknown_instance_is_model_not_loaded(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/models/unload").respond_with_json(
        {"error": {"type": "model_not_found", "message": 'No model instance "ghost" is loaded'}}, status=404
    )
    with client(httpserver) as lms, pytest.raises(ModelNotLoaded, match="`lms ps`") as info:
        lms.unload("ghost")
    assert info.value.status_code == 404


def test_download_failed_status(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/models/download").respond_with_json(
        {"job_id": "job_aaaaaaaaaa", "status": "downloading", "total_size_bytes": 100}
    )
    httpserver.expect_request("/api/v1/models/download/status/job_aaaaaaaaaa").respond_with_json(
        {"job_id": "job_aaaaaaaaaa", "status": "failed", "total_size_bytes": 100, "downloaded_bytes": 30}
    )
    with client(httpserver) as lms, pytest.raises(DownloadFailed) as info:
        lms.download("qwen/qwen3-4b", poll_interval=0)
    assert "job_aaaaaaaaaa" in str(info.value) and "30 of 100 bytes" in str(info.value)


def test_download_timeout(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/models/download").respond_with_json(
        {"job_id": "job_bbbbbbbbbb", "status": "downloading", "total_size_bytes": 100}
    )
    httpserver.expect_request("/api/v1/models/download/status/job_bbbbbbbbbb").respond_with_json(
        {"job_id": "job_bbbbbbbbbb", "status": "downloading", "total_size_bytes": 100, "downloaded_bytes": 1}
    )
    with client(httpserver) as lms, pytest.raises(LMStudioTimeout, match="job_bbbbbbbbbb"):
        lms.download("qwen/qwen3-4b", poll_interval=0.02, timeout=0.1)


def test_ensure_ready_refuses_to_download_by_default(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json({"lmstudio": True})
    httpserver.expect_request("/api/v1/models").respond_with_json(NATIVE_MODELS)
    with client(httpserver) as lms, pytest.raises(ModelNotFound) as info:
        lms.ensure_ready("openai/gpt-oss-20b")
    assert "`lms get openai/gpt-oss-20b`" in str(info.value)
    assert [req.path for req, _ in httpserver.log] == ["/lmstudio-greeting", "/api/v1/models"]


def test_ensure_ready_server_down() -> None:
    with client(closed_port_url()) as lms, pytest.raises(ServerNotRunning):
        lms.ensure_ready("qwen/qwen3-4b")


def test_is_running_false_for_non_lmstudio_server(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_data("nginx", status=404)
    with client(httpserver) as lms:
        assert lms.is_running() is False


def test_is_running_true_when_auth_required(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/lmstudio-greeting").respond_with_json(UNAUTHORIZED_401, status=401)
    with client(httpserver) as lms:
        assert lms.is_running() is True


# -- streams ---------------------------------------------------------------------------------------


def test_truncated_stream_raises_stream_error(httpserver: HTTPServer) -> None:
    body = sse(chunk({"content": "Hel"}), chunk({"content": "lo"}), done=False)
    httpserver.expect_request("/v1/chat/completions").respond_with_data(
        body, content_type="text/event-stream"
    )
    with client(httpserver) as lms:
        events = []
        with pytest.raises(StreamError) as info:
            for event in lms.stream("x", model="m"):
                events.append(event)
    assert events == [TextDelta("Hel"), TextDelta("lo")]
    assert "ended after 2 chunk(s) without `data: [DONE]`" in str(info.value)


def test_stream_cut_mid_frame_raises_stream_error(httpserver: HTTPServer) -> None:
    body = sse(chunk({"content": "Hel"}), done=False) + 'data: {"id":"chatcmpl-x","choi'
    httpserver.expect_request("/v1/chat/completions").respond_with_data(
        body, content_type="text/event-stream"
    )
    with client(httpserver) as lms, pytest.raises(StreamError, match="not JSON after 1 chunk"):
        list(lms.stream("x", model="m"))


def test_error_frame_mid_stream(httpserver: HTTPServer) -> None:
    body = sse(
        chunk({"content": "Hel"}),
        {
            "error": {
                "message": "Model unloaded during prediction",
                "type": "server_error",
                "code": "model_unloaded",
            }
        },
        done=False,
    )
    httpserver.expect_request("/v1/chat/completions").respond_with_data(
        body, content_type="text/event-stream"
    )
    with client(httpserver) as lms, pytest.raises(StreamError) as info:
        list(lms.stream("x", model="m"))
    err = info.value
    assert err.server_message == "Model unloaded during prediction"
    assert err.code == "model_unloaded"
    assert "mid-stream after 1 chunk(s)" in str(err)


def test_string_error_frame_mid_stream(httpserver: HTTPServer) -> None:
    body = sse(chunk({"content": "a"}), {"error": "Context length exceeded"})
    httpserver.expect_request("/v1/chat/completions").respond_with_data(
        body, content_type="text/event-stream"
    )
    with client(httpserver) as lms, pytest.raises(StreamError) as info:
        list(lms.stream("x"))
    assert info.value.server_message == "Context length exceeded"


def _broken_stream(request: Request) -> Response:
    def generate() -> Iterator[bytes]:
        yield sse(chunk({"content": "partial"}), done=False).encode()
        raise ConnectionAbortedError("simulated crash")

    # a Content-Length larger than what is sent makes the cut a protocol error for the client
    return Response(generate(), content_type="text/event-stream", headers={"Content-Length": "100000"})


def test_connection_dropped_mid_stream(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_handler(_broken_stream)
    with client(httpserver) as lms:
        events = []
        with pytest.raises(StreamError) as info:
            for event in lms.stream("x"):
                events.append(event)
    assert events == [TextDelta("partial")]
    assert "broke after 1 chunk(s)" in str(info.value)


def test_stream_http_errors_are_mapped(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_json(MODEL_NOT_FOUND_400, status=400)
    with client(httpserver) as lms, pytest.raises(ModelNotFound):
        list(lms.stream("x", model="o4-mini"))


def test_stream_unexpected_endpoint(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_json(
        unexpected("POST", "/v1/chat/completions")
    )
    with client(httpserver) as lms, pytest.raises(WrongEndpoint):
        list(lms.stream("x"))


def test_stream_connection_refused() -> None:
    with client(closed_port_url()) as lms, pytest.raises(ServerNotRunning):
        list(lms.stream("x"))


# -- async twins -------------------------------------------------------------------------------------


async def test_async_error_mapping(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v1/chat/completions").respond_with_json(MODEL_NOT_FOUND_400, status=400)
    httpserver.expect_request("/api/v0/models").respond_with_json(UNAUTHORIZED_401, status=401)
    httpserver.expect_request("/v1/embeddings").respond_with_data("", status=500)
    httpserver.expect_request("/v1/responses").respond_with_json(unexpected("POST", "/v1/responses"))
    httpserver.expect_request("/v1/completions").respond_with_json(NO_MODELS_LOADED_STRING, status=400)
    async with aclient(httpserver) as lms:
        with pytest.raises(ModelNotFound):
            await lms.chat("x", model="o4-mini")
        with pytest.raises(Unauthorized):
            await lms.models()
        with pytest.raises(ServerError):
            await lms.embed("x")
        with pytest.raises(WrongEndpoint):
            await lms.respond("x")
        with pytest.raises(ModelNotLoaded):
            await lms.complete("x")


async def test_async_connection_refused_and_timeout(httpserver: HTTPServer) -> None:
    async with aclient(closed_port_url()) as lms:
        with pytest.raises(ServerNotRunning):
            await lms.greeting()
        assert await lms.is_running() is False
    httpserver.expect_request("/api/v0/models").respond_with_handler(_slow)
    async with aclient(httpserver, timeout=0.1) as lms:
        with pytest.raises(LMStudioTimeout):
            await lms.models()


async def test_async_stream_errors(httpserver: HTTPServer) -> None:
    truncated = sse(chunk({"content": "Hel"}), done=False)
    error_frame = sse(chunk({"content": "Hel"}), {"error": {"message": "boom"}}, done=False)
    httpserver.expect_oneshot_request("/v1/chat/completions").respond_with_data(
        truncated, content_type="text/event-stream"
    )
    httpserver.expect_oneshot_request("/v1/chat/completions").respond_with_data(
        error_frame, content_type="text/event-stream"
    )
    httpserver.expect_oneshot_request("/v1/chat/completions").respond_with_handler(_broken_stream)
    async with aclient(httpserver) as lms:
        with pytest.raises(StreamError, match="without `data: \\[DONE\\]`"):
            [e async for e in lms.stream("x")]
        with pytest.raises(StreamError) as info:
            [e async for e in lms.stream("x")]
        assert info.value.server_message == "boom"
        with pytest.raises(StreamError, match="broke after 1 chunk"):
            [e async for e in lms.stream("x")]


def test_all_errors_share_the_base_class() -> None:
    for cls in (
        WrongEndpoint,
        Unauthorized,
        ModelNotFound,
        ModelNotLoaded,
        BadRequest,
        ServerError,
        StreamError,
    ):
        assert issubclass(cls, LMStudioError)


def test_load_retries_without_extensions_when_lm_studio_rejects_unknown_keys(httpserver: HTTPServer) -> None:
    strict = {
        "error": {
            "message": "Unrecognized key(s) in object: 'ttl'",
            "type": "invalid_request",
            "code": "unrecognized_keys",
        }
    }
    httpserver.expect_ordered_request(
        "/api/v1/models/load", method="POST", json={"model": "m", "echo_load_config": True, "ttl": 60}
    ).respond_with_json(strict, status=400)
    httpserver.expect_ordered_request(
        "/api/v1/models/load", method="POST", json={"model": "m", "echo_load_config": True}
    ).respond_with_json({"type": "llm", "instance_id": "m", "load_time_seconds": 0.5, "status": "loaded"})
    with client(httpserver) as lms:
        assert lms.load("m", ttl=60).instance_id == "m"
    httpserver.check_assertions()


def test_load_other_400_is_not_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/api/v1/models/load", method="POST").respond_with_json(
        {"error": {"message": "Insufficient memory", "type": "invalid_request"}}, status=400
    )
    with client(httpserver) as lms, pytest.raises(LoadFailed, match="Insufficient memory"):
        lms.load("m", ttl=60)
    assert len(httpserver.log) == 1
