"""Recorded requests and assertions (issue 7); the control API of a fake process; the fixture.

Tests named ``test_doc_*`` are the examples of docs/scripting.md.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from unittest.mock import ANY

import httpx
import openai
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from fake_lms import FakeLMStudio
from fake_lms.scripting.records import Headers, RequestRecord
from fake_lms.scripting.remote import ControlClient, ControlError
from fake_lms.server.control import respond

LLM = "qwen/qwen3-4b"
TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
}


@pytest.fixture
def client(lmstudio_fake: FakeLMStudio) -> openai.OpenAI:
    return openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="sk-secret-token", max_retries=0)


# --------------------------------------------------------------------------------------------
# records


def test_doc_requests(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    client.chat.completions.create(
        model="qwen/qwen3-4b",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        tools=[TOOL],
        tool_choice="auto",
        temperature=0.2,
        max_tokens=50,
    )
    [req] = lmstudio_fake.requests
    assert (req.method, req.path, req.model, req.status) == ("POST", "/v1/chat/completions", LLM, 200)
    assert req.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert req.last_user_message == "Hi"
    assert req.tools == [TOOL] and req.tool_names == ["lookup"] and req.tool_choice == "auto"
    assert (req.temperature, req.max_tokens, req.stream) == (0.2, 50, False)
    assert req.sampling == {"temperature": 0.2, "max_tokens": 50}
    assert req.headers["Authorization"] == "Bearer <redacted>"  # never the token itself
    assert req.headers["content-type"] == "application/json"  # names are case-insensitive
    assert req.json["max_tokens"] == 50 and b'"max_tokens":50' in req.body.replace(b" ", b"")


def test_records_of_other_endpoints(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    client.responses.create(model=LLM, input="Say hi", instructions="Be kind", stream=True).close()
    client.chat.completions.parse(
        model=LLM,
        messages=[{"role": "user", "content": "json"}],
        response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    )
    client.completions.create(model=LLM, prompt="Once")
    client.embeddings.create(model="text-embedding-nomic-embed-text-v1.5", input=["a", "b"])
    client.models.list()
    responses, parsed, completion, embedding, listing = lmstudio_fake.requests
    assert responses.messages == [
        {"role": "system", "content": "Be kind"},
        {"role": "user", "content": "Say hi"},
    ]
    assert responses.stream is True and responses.last_user_message == "Say hi"
    assert parsed.response_format["type"] == "json_schema"
    assert parsed.headers["x-stainless-helper-method"] == "chat.completions.parse"
    assert completion.last_user_message == "Once" and completion.messages is None
    assert embedding.last_user_message == "a\nb"
    assert (listing.method, listing.path, listing.model, listing.json) == ("GET", "/v1/models", None, None)


def test_headers_are_redacted_and_case_insensitive() -> None:
    headers = Headers(
        {"Authorization": "Bearer sk-lm-abc:def", "X-Api-Key": "secret", "Cookie": "a=b", "X-Other": "v"}
    )
    assert headers["authorization"] == "Bearer <redacted>"
    assert headers["x-api-key"] == headers["API-KEY".replace("API", "X-API")] == "<redacted>"
    assert headers["cookie"] == "<redacted>" and headers["x-other"] == "v"
    assert "AUTHORIZATION" in headers and list(headers) == ["Authorization", "X-Api-Key", "Cookie", "X-Other"]
    assert "sk-lm" not in repr(headers)


def test_anthropic_style_key_is_redacted(lmstudio_fake: FakeLMStudio) -> None:
    httpx.post(lmstudio_fake.url + "/v1/messages", headers={"x-api-key": "sk-ant-secret"}, json={})
    assert lmstudio_fake.requests[0].headers["X-API-KEY"] == "<redacted>"
    assert "sk-ant-secret" not in repr(lmstudio_fake.requests[0].to_dict())


def test_requests_answered_by_httpserver_expectations_are_recorded(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.expect_request("/v1/models").respond_with_json({"data": [], "object": "list"})
    assert httpx.get(lmstudio_fake.base_url + "/models").json() == {"data": [], "object": "list"}
    lmstudio_fake.assert_called(times=1, path="/v1/models", status=200)


def test_record_round_trips_through_json() -> None:
    record = RequestRecord(
        "POST", "/v1/chat/completions", Headers({"a": "b"}), {"model": "m"}, b'{"model":"m"}'
    )
    record.status, record.faults = 503, ["status 503"]
    again = RequestRecord.from_dict(record.to_dict())
    assert (again.model, again.headers, again.status, again.faults, again.body) == (
        "m",
        {"a": "b"},
        503,
        ["status 503"],
        b'{"model":"m"}',
    )


# --------------------------------------------------------------------------------------------
# assertions


def test_doc_assert_called_with(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    client.chat.completions.create(
        model="qwen/qwen3-4b",
        messages=[{"role": "user", "content": "Find cats"}],
        tools=[TOOL],
        temperature=0,
    )
    lmstudio_fake.assert_called_with(model="qwen/qwen3-4b", tools=["lookup"], temperature=0)
    lmstudio_fake.assert_called_with(
        last_user_message=re.compile("cats"), headers={"x-stainless-lang": "python"}
    )
    lmstudio_fake.assert_called_with(messages=[{"role": "user", "content": ANY}], stream=False)
    lmstudio_fake.assert_called(times=1, path="/v1/chat/completions")
    lmstudio_fake.assert_not_called(path="/v1/embeddings")


def test_assert_called_with_failure_lists_requests(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio
) -> None:
    client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "Hello there"}])
    client.models.list()
    with pytest.raises(AssertionError) as info:
        lmstudio_fake.assert_called_with(model="google/gemma-3-1b", temperature=0)
    message = str(info.value)
    assert message.splitlines() == [
        "expected a request with model='google/gemma-3-1b', temperature=0; "
        "none of the 2 request(s) received matched:",
        '  1. POST /v1/chat/completions qwen/qwen3-4b "Hello there" -> 200'
        "   <- differs: model='qwen/qwen3-4b', temperature=None",
        "  2. GET /v1/models -> 200   <- differs: model=None, temperature=None",
    ]


def test_assert_called_times_failure(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.fail(503)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "x"}], stream=True)
    with pytest.raises(
        AssertionError, match=r"expected 2 request\(s\) with path='/v1/chat/completions', got 1"
    ) as info:
        lmstudio_fake.assert_called(times=2, path="/v1/chat/completions")
    assert '1. POST /v1/chat/completions qwen/qwen3-4b stream "x" [fault: status 503] -> 503' in str(
        info.value
    )


def test_assert_not_called_failure_and_empty(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.assert_not_called()
    with pytest.raises(
        AssertionError, match=r"none of the 0 request\(s\).*\n  \(no requests were received\)"
    ):
        lmstudio_fake.assert_called_with(model=LLM)
    httpx.get(lmstudio_fake.url + "/lmstudio-greeting")
    with pytest.raises(AssertionError, match="expected no request with path='/lmstudio-greeting', got 1"):
        lmstudio_fake.assert_not_called(path="/lmstudio-greeting")
    with pytest.raises(TypeError, match="times"):
        lmstudio_fake.assert_called_with(times=1)


def test_assertion_predicates_and_body_fields(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    client.chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "x"}],
        stream=True,
        stream_options={"include_usage": True},
    ).close()
    record = lmstudio_fake.assert_called_with(stream_options={"include_usage": True}, max_tokens=None)
    assert record.stream
    lmstudio_fake.assert_called_with(messages=lambda m: len(m) == 1)


# --------------------------------------------------------------------------------------------
# the fixture


def test_doc_fixture_reraises_server_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import httpx

        def test_bug_in_a_match_callable(lmstudio_fake):
            lmstudio_fake.reply("x", match=lambda record: record.nope)
            body = {"model": "qwen/qwen3-4b", "messages": [{"role": "user", "content": "hi"}]}
            assert httpx.post(lmstudio_fake.base_url + "/chat/completions", json=body).status_code == 500

        def test_unmet_ordered_expectation(lmstudio_fake):
            lmstudio_fake.expect_ordered_request("/first").respond_with_data("1")
            httpx.get(lmstudio_fake.url + "/second")

        def test_next_test_is_clean(lmstudio_fake):
            assert lmstudio_fake.rules == [] and lmstudio_fake.requests == []
            assert httpx.get(lmstudio_fake.url + "/lmstudio-greeting").json() == {"lmstudio": True}
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_bug_in_a_match_callable*",
            "*AttributeError: 'RequestRecord' object has no attribute 'nope'*",
            "*ERROR at teardown of test_unmet_ordered_expectation*",
            "*No handler found for request*",
        ]
    )


def test_reset_restores_everything(lmstudio_fake: FakeLMStudio) -> None:
    fake = lmstudio_fake
    body = {"model": LLM, "input": "hi"}
    response_id = httpx.post(fake.base_url + "/responses", json=body).json()["id"]
    fake.configure(jit=False, require_auth=True)
    fake.home.add_token("sk-lm-abcdefgh:abcdefghijklmnopqrst")
    fake.home.remove_download("google/gemma-3-1b")
    fake.expect_request("/custom").respond_with_data("x")
    fake.fail(503, times=None)
    assert fake.home.instances() and fake.request_log()

    fake.reset()
    assert fake.settings.jit is True and fake.settings.require_auth is False
    assert fake.home.instances() == [] and fake.request_log() == []
    assert fake.requests == [] and fake.rules == [] and fake.log == []
    assert not fake.home.token_known("sk-lm-abcdefgh:abcdefghijklmnopqrst")
    assert fake.home.is_downloaded("google/gemma-3-1b")
    assert fake.ctx.conversations.get(response_id) is None and fake.ctx.stats.requests == 0
    assert httpx.get(fake.url + "/custom").json()["error"].startswith("Unexpected endpoint")


# --------------------------------------------------------------------------------------------
# the control API


def test_doc_control_client(lmstudio_fake: FakeLMStudio) -> None:
    # with --lmstudio-mode=fake, the URL is the shared fake process; here an in-process one
    fake = ControlClient(lmstudio_fake.url)
    fake.reset()
    fake.reply("Scripted over HTTP", match={"contains": "hello"})
    fake.fail(503, retry_after=0)

    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="lm-studio")
    r = client.chat.completions.create(model="qwen/qwen3-4b", messages=[{"role": "user", "content": "hello"}])
    assert r.choices[0].message.content == "Scripted over HTTP"
    assert [req.status for req in fake.requests] == [503, 200]
    fake.assert_called(times=2, model="qwen/qwen3-4b")


def test_control_client_has_the_same_api(lmstudio_fake: FakeLMStudio) -> None:
    control = ControlClient(lmstudio_fake.base_url)  # a /v1 base URL works too
    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="x", max_retries=0)
    rule = control.reply_tool_call("lookup", {"q": "cats"}, times=1)
    assert rule["kind"] == "tool_calls" and rule["times"] == 1
    control.reply_json({"ok": True}, match=re.compile("json"))
    control.stream_cut(after=1, match={"model": LLM, "stream": True})
    r = client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "x"}], tools=[TOOL])
    assert r.choices[0].message.tool_calls[0].function.name == "lookup"
    assert (
        client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "json please"}])
        .choices[0]
        .message.content
        == '{"ok": true}'
    )
    with pytest.raises(openai.APIConnectionError):
        list(
            client.chat.completions.create(
                model=LLM, messages=[{"role": "user", "content": "x"}], stream=True
            )
        )
    assert [r["used"] for r in control.rules] == [1, 1, 1]
    control.fault("no_models_loaded")
    with pytest.raises(openai.BadRequestError, match="No models loaded"):
        client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "x"}])
    assert control.requests[-1].faults == ["no_models_loaded"]
    # control requests themselves are never recorded
    assert all(not r.path.startswith("/__fake__") for r in lmstudio_fake.requests)

    assert control.expire(LLM) == [LLM]
    assert control.configure(load_seconds=0.25)["load_seconds"] == 0.25
    control.reset()  # scripts and requests only: settings stay
    assert lmstudio_fake.settings.load_seconds == 0.25 and control.requests == [] and control.rules == []
    control.reset(state=True)
    assert lmstudio_fake.settings.load_seconds == 0


def test_control_refuse_connections(lmstudio_fake: FakeLMStudio) -> None:
    control = ControlClient(lmstudio_fake.url)
    control.refuse_connections(0.3)  # returns once the fake refuses connections
    with pytest.raises(httpx.ConnectError):
        httpx.get(lmstudio_fake.url + "/lmstudio-greeting", timeout=1)
    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="x", max_retries=3)
    assert client.models.list().data  # back after 0.3 s


def test_control_errors(lmstudio_fake: FakeLMStudio) -> None:
    control = ControlClient(lmstudio_fake.url)
    with pytest.raises(ControlError, match="unknown fault 'nope'"):
        control.fault("nope")
    with pytest.raises(Exception, match="callable match cannot be sent"):
        control.reply("x", match=lambda r: True)
    url = lmstudio_fake.url + "/__fake__/script"
    bad_batch = [{"reply": {"text": "ok"}}, {"reply": {"txt": "typo"}}]
    r = httpx.post(url, json=bad_batch)
    assert r.status_code == 400 and "exactly one of 'text'" in r.json()["error"]
    assert all(not rule.active for rule in lmstudio_fake.rules)  # all or nothing
    r = httpx.post(url, content=b'{"reply": {"text": "x"}}', headers={"content-type": "text/plain"})
    assert r.status_code == 415  # no "simple" cross-origin requests
    assert httpx.get(lmstudio_fake.url + "/__fake__/nope").status_code == 404
    with pytest.raises(ControlError, match="cannot reach"):
        ControlClient("http://127.0.0.1:9").reset()


def test_control_api_is_loopback_only(lmstudio_fake: FakeLMStudio) -> None:
    environ = EnvironBuilder(
        path="/__fake__/requests", environ_base={"REMOTE_ADDR": "192.168.1.20"}
    ).get_environ()
    assert respond(lmstudio_fake, Request(environ)).status_code == 403
    environ["REMOTE_ADDR"] = "::ffff:127.0.0.1"
    assert respond(lmstudio_fake, Request(environ)).status_code == 200


def test_control_api_needs_no_lm_studio_token(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.configure(require_auth=True)
    control = ControlClient(lmstudio_fake.url)
    control.reply("x", optional=True)
    assert httpx.get(lmstudio_fake.base_url + "/models").status_code == 401
    assert control.requests[0].status == 401


def test_control_api_of_a_fake_process(tmp_path: object) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        control = ControlClient(url)
        control.reply("from the process", match=LLM)
        client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
        r = client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": "hi"}])
        assert r.choices[0].message.content == "from the process"
        control.assert_called_with(model=LLM, path="/v1/chat/completions", scripted=True)
        control.reset()
        assert control.requests == []
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_doc_control_in_a_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shape of a test against a shared fake process (the URL comes from the environment)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        pytester.makepyfile(
            textwrap.dedent(
                """
                import os
                import openai
                import pytest
                from fake_lms.scripting.remote import ControlClient

                @pytest.fixture
                def fake_control():
                    control = ControlClient(os.environ["FAKE_URL"])
                    control.reset()
                    yield control
                    control.reset()

                def test_retry(fake_control):
                    fake_control.fail(503, retry_after=0)
                    client = openai.OpenAI(base_url=os.environ["FAKE_URL"] + "/v1", api_key="x")
                    client.chat.completions.create(
                        model="qwen/qwen3-4b", messages=[{"role": "user", "content": "hi"}]
                    )
                    fake_control.assert_called(times=2, path="/v1/chat/completions")
                """
            )
        )
        monkeypatch.setenv("FAKE_URL", url)
        result = pytester.runpytest_subprocess()
        result.assert_outcomes(passed=1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
