"""Scripted replies (issue 7): text, JSON, tool calls; queues, ``times=``, ``match=``; isolation.

Tests named ``test_doc_*`` are the examples of docs/scripting.md, in the same order.
"""

from __future__ import annotations

import json
import re
import textwrap

import httpx
import openai
import pytest
from pydantic import BaseModel

from fake_lms import FakeLMStudio
from fake_lms.scripting.records import RequestRecord
from fake_lms.scripting.remote import ControlClient
from fake_lms.scripting.rules import ScriptError

LLM = "qwen/qwen3-4b"
OTHER = "google/gemma-3-1b"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.fixture
def client(lmstudio_fake: FakeLMStudio) -> openai.OpenAI:
    return openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="lm-studio", max_retries=0)


def ask(client: openai.OpenAI, text: str, model: str = LLM, **kwargs: object) -> str | None:
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kwargs)
    return r.choices[0].message.content


def ask_streamed(client: openai.OpenAI, text: str, model: str = LLM) -> str:
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": text}], stream=True
    )
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


# --------------------------------------------------------------------------------------------
# the documented examples


def test_doc_reply_text(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply("Paris is the capital of France.")

    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="lm-studio")
    r = client.chat.completions.create(
        model="qwen/qwen3-4b", messages=[{"role": "user", "content": "Capital of France?"}]
    )
    assert r.choices[0].message.content == "Paris is the capital of France."
    # streamed, the same text arrives token by token, and usage counts it
    assert ask_streamed(client, "Capital of France?") == "Paris is the capital of France."
    # qwen3 reasons by default (fidelity review §2 row 7): the script is the content, the model's
    # reasoning comes before it and counts as completion tokens too
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    reasoning_tokens = r.usage.completion_tokens_details.reasoning_tokens or 0
    assert reasoning_tokens > 0 and r.usage.completion_tokens == 7 + reasoning_tokens


def test_doc_reply_queue(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply("first")
    lmstudio_fake.reply("second")
    assert [ask(client, "hi") for _ in range(3)] == ["first", "second", "second"]


def test_doc_reply_times(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply("only once", times=1)
    assert ask(client, "hi") == "only once"
    assert ask(client, "hi") != "only once"  # back to the fake's default reply


def test_doc_reply_match(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply("from gemma", match="google/gemma-3-1b")  # a model name...
    lmstudio_fake.reply("about weather", match="weather")  # ...or a substring of the last user message
    lmstudio_fake.reply("a number", match=re.compile(r"\d+"))  # a regex
    lmstudio_fake.reply("long one", match=lambda r: len(r.last_user_message or "") > 40)  # a callable
    lmstudio_fake.reply("qwen + hello", match={"model": "qwen/qwen3-4b", "contains": "hello"})  # all of

    assert ask(client, "hi", model="google/gemma-3-1b") == "from gemma"
    assert ask(client, "How is the weather?") == "about weather"
    assert ask(client, "Is 42 the answer?") == "a number"
    assert ask(client, "tell me a story about a very very long journey") == "long one"
    assert ask(client, "hello there") == "qwen + hello"
    assert ask(client, "nothing scripted").startswith("You said")


def test_doc_reply_json(lmstudio_fake: FakeLMStudio) -> None:
    class City(BaseModel):
        name: str
        population: int

    lmstudio_fake.reply_json({"name": "Paris", "population": 2_100_000})

    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="lm-studio")
    r = client.chat.completions.parse(
        model="qwen/qwen3-4b", messages=[{"role": "user", "content": "A city?"}], response_format=City
    )
    assert r.choices[0].message.parsed == City(name="Paris", population=2_100_000)


def test_doc_reply_tool_call(lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply_tool_call("get_weather", {"city": "Paris"}, times=1)
    lmstudio_fake.reply("It is sunny in Paris.")

    client = openai.OpenAI(base_url=lmstudio_fake.base_url, api_key="lm-studio")
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    r = client.chat.completions.create(model="qwen/qwen3-4b", messages=messages, tools=[WEATHER_TOOL])
    assert r.choices[0].finish_reason == "tool_calls"
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}

    messages += [
        r.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"sky": "clear"}'},
    ]
    r = client.chat.completions.create(model="qwen/qwen3-4b", messages=messages, tools=[WEATHER_TOOL])
    assert r.choices[0].message.content == "It is sunny in Paris."
    lmstudio_fake.assert_called(times=2, tools=["get_weather"])


def test_doc_reply_tool_calls_several(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply_tool_calls([("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})])
    r = client.chat.completions.create(
        model=LLM, messages=[{"role": "user", "content": "Paris and Rome?"}], tools=[WEATHER_TOOL]
    )
    calls = r.choices[0].message.tool_calls
    assert [json.loads(c.function.arguments)["city"] for c in calls] == ["Paris", "Rome"]
    assert len({c.id for c in calls}) == 2


def test_doc_reply_reasoning(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    """qwen3 reasons by default (fidelity review §2 row 7); the script is the content and
    ``reasoning=`` what the model thinks, counted as reasoning tokens (spec §1.2 usage)."""
    lmstudio_fake.reply("Paris.", reasoning="The capital of France is Paris.")

    messages = [{"role": "user", "content": "Capital?"}]
    r = client.chat.completions.create(model="qwen/qwen3-4b", messages=messages)  # type: ignore[arg-type]
    assert r.choices[0].message.content == "Paris."
    assert (r.choices[0].message.model_extra or {})["reasoning_content"] == "The capital of France is Paris."
    assert r.usage is not None and r.usage.completion_tokens_details is not None
    assert r.usage.completion_tokens_details.reasoning_tokens == 7


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        (LLM, {}, "Because of Rayleigh scattering."),
        (LLM, {"reasoning_effort": "off"}, ""),  # qwen3 offers "off" (docs 2_rest/list.md)
        (OTHER, {}, ""),  # gemma does not reason
    ],
)
def test_scripted_reasoning_only_where_the_model_reasons(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio, model: str, fields: dict, expected: str
) -> None:
    """Fidelity review §2 row 7: a model reasons at its default unless the request turns it off;
    a model without reasoning never does, so a scripted reasoning does not appear there."""
    lmstudio_fake.reply("Blue.", reasoning="Because of Rayleigh scattering.")
    messages = [{"role": "user", "content": "Sky?"}]
    r = client.chat.completions.create(model=model, messages=messages, **fields)  # type: ignore[arg-type]
    message = r.choices[0].message
    assert (message.content, (message.model_extra or {})["reasoning_content"]) == ("Blue.", expected)


def test_scripted_reasoning_on_every_dialect(lmstudio_fake: FakeLMStudio) -> None:
    """The same script for /v1/responses (a reasoning item, earendil-works/pi#4191), a tool call
    and the control API (an empty reasoning: the model thinks nothing)."""
    base = lmstudio_fake.base_url
    lmstudio_fake.reply("Lima.", reasoning="Peru's capital.", times=1)
    out = httpx.post(base + "/responses", json={"model": LLM, "input": "Capital?"}).json()
    assert [(i["type"], i["content"][0]["text"]) for i in out["output"]] == [
        ("reasoning", "Peru's capital."),
        ("message", "Lima."),
    ]
    lmstudio_fake.reply_tool_call("get_weather", {"city": "Lima"}, reasoning="I should look it up.", times=1)
    body = {"model": LLM, "messages": [{"role": "user", "content": "Lima?"}], "tools": [WEATHER_TOOL]}
    message = httpx.post(base + "/chat/completions", json=body).json()["choices"][0]["message"]
    assert message["reasoning_content"] == "I should look it up." and message["tool_calls"]
    ControlClient(lmstudio_fake.url).reply("Plain.", reasoning="", times=1)
    body = {"model": LLM, "messages": [{"role": "user", "content": "Say it"}]}
    answer = httpx.post(base + "/chat/completions", json=body).json()
    assert answer["choices"][0]["message"]["reasoning_content"] == ""
    assert answer["usage"]["completion_tokens"] == 2  # "Plain" "."
    with pytest.raises(ScriptError, match="reasoning must be a string"):
        lmstudio_fake.reply("x", reasoning=3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# every generation endpoint, streamed or not


def test_reply_streamed_tool_call_round_trips(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply_tool_call("get_weather", '{"city":"Oslo"}')
    stream = client.chat.completions.create(
        model=LLM, messages=[{"role": "user", "content": "Oslo?"}], tools=[WEATHER_TOOL], stream=True
    )
    name, args, finish = "", "", None
    for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or []:
            name += tc.function.name or ""
            args += tc.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert (name, json.loads(args), finish) == ("get_weather", {"city": "Oslo"}, "tool_calls")


def test_reply_applies_to_completions_and_responses(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio
) -> None:
    lmstudio_fake.reply("scripted everywhere")
    assert client.completions.create(model=LLM, prompt="Once upon").choices[0].text == "scripted everywhere"
    text = "".join(
        c.choices[0].text for c in client.completions.create(model=LLM, prompt="x", stream=True) if c.choices
    )
    assert text == "scripted everywhere"
    assert client.responses.create(model=LLM, input="hi").output_text == "scripted everywhere"
    deltas = [
        e.delta
        for e in client.responses.create(model=LLM, input="hi", stream=True)
        if e.type.endswith("text.delta")
    ]
    assert "".join(deltas) == "scripted everywhere"
    # the native v0 endpoint uses the same handler
    assert lmstudio_fake.requests[0].path == "/v1/completions"


def test_reply_tool_call_on_responses_api(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply_tool_call("get_weather", {"city": "Lima"})
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL["function"]["parameters"]}
    r = client.responses.create(model=LLM, input="Lima?", tools=[tool])
    # qwen3 reasons first, by default (fidelity review §2 row 7; earendil-works/pi#4191)
    assert [item.type for item in r.output] == ["reasoning", "function_call"]
    call = r.output[1]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "Lima"}


def test_tool_call_reply_does_not_answer_completions(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio
) -> None:
    lmstudio_fake.reply_tool_call("get_weather", {"city": "Paris"}, optional=True)  # it must not act
    text = client.completions.create(model=LLM, prompt="Once upon a time").choices[0].text
    assert "story continues" in text  # the legacy endpoint cannot carry a tool call
    assert lmstudio_fake.rules[0].used == 0


def test_embeddings_are_never_scripted_text(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply("text", optional=True)  # it must not act
    r = client.embeddings.create(model="text-embedding-nomic-embed-text-v1.5", input="hello")
    assert len(r.data[0].embedding) > 10


def test_max_tokens_still_applies_to_scripted_text(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio
) -> None:
    lmstudio_fake.reply("one two three four five")
    r = client.chat.completions.create(
        model=OTHER, messages=[{"role": "user", "content": "count"}], max_tokens=2
    )
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == ("one two", "length")


def test_a_reasoning_model_reasons_before_scripted_text_within_max_tokens(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio
) -> None:
    """The scripted text is the content; a reasoning model still reasons first, and its reasoning
    counts against max_tokens (fidelity review §4.2; mrdushidush/claudette#200: at a small limit,
    reasoning deltas only and finish_reason "length")."""
    lmstudio_fake.reply("one two three four five")
    messages = [{"role": "user", "content": "count"}]
    full = client.chat.completions.create(model=LLM, messages=messages)
    assert full.usage is not None and full.usage.completion_tokens_details is not None
    thinking = full.usage.completion_tokens_details.reasoning_tokens or 0
    assert full.choices[0].message.content == "one two three four five" and thinking > 0
    cut = client.chat.completions.create(model=LLM, messages=messages, max_tokens=thinking + 2)
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("one two", "length")
    spent = client.chat.completions.create(model=LLM, messages=messages, max_tokens=thinking)
    assert (spent.choices[0].message.content, spent.choices[0].finish_reason) == ("", "length")


# --------------------------------------------------------------------------------------------
# selection rules


def test_match_by_model_uses_resolved_names(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply("gemma!", match={"model": OTHER})
    assert ask(client, "hi", model=OTHER) == "gemma!"
    assert ask(client, "hi", model=LLM) != "gemma!"


def test_forever_reply_keeps_answering_its_own_match(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio
) -> None:
    lmstudio_fake.reply("weather!", match="weather")
    lmstudio_fake.reply("anything else")
    assert [ask(client, q) for q in ("weather?", "hi", "weather again?")] == [
        "weather!",
        "anything else",
        "weather!",
    ]


def test_queue_with_times(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply("A", times=2)
    lmstudio_fake.reply("B", times=1)
    lmstudio_fake.reply("C")
    assert [ask(client, "x") for _ in range(5)] == ["A", "A", "B", "C", "C"]
    assert [(r.used, r.remaining) for r in lmstudio_fake.rules] == [(2, 0), (1, 0), (2, None)]


def test_rule_cancel(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    rule = lmstudio_fake.reply("scripted")
    assert ask(client, "x") == "scripted"
    rule.cancel()
    assert ask(client, "x") != "scripted"


def test_callable_match_receives_the_recorded_request(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio
) -> None:
    seen: list[RequestRecord] = []

    def pick(record: RequestRecord) -> bool:
        seen.append(record)
        return record.temperature == 0

    lmstudio_fake.reply("cold", match=pick)
    assert ask(client, "x", temperature=0) == "cold"
    assert ask(client, "x", temperature=1) != "cold"
    assert seen[0] is lmstudio_fake.requests[0]


def test_error_in_match_callable_reaches_the_test(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply("never", match=lambda r: 1 / 0, optional=True)
    with pytest.raises(openai.InternalServerError, match="ZeroDivisionError"):
        ask(client, "x")
    with pytest.raises(ZeroDivisionError):
        lmstudio_fake.check_handler_errors()


def test_invalid_scripts_are_refused_with_a_reason(lmstudio_fake: FakeLMStudio) -> None:
    with pytest.raises(ScriptError, match="times must be a positive integer"):
        lmstudio_fake.reply("x", times=0)
    with pytest.raises(ScriptError, match="unknown match key"):
        lmstudio_fake.reply("x", match={"modle": LLM})
    with pytest.raises(ScriptError, match="not JSON"):
        lmstudio_fake.reply_tool_call("f", "{not json")
    with pytest.raises(ScriptError, match="match must be"):
        lmstudio_fake.reply("x", match=42)
    assert lmstudio_fake.rules == []


def test_app_handle_without_the_server_still_scripts() -> None:
    from fake_lms.api.types import ApiRequest

    with FakeLMStudio() as fake:
        fake.reply("direct")
        body = {"model": LLM, "messages": [{"role": "user", "content": "hi"}]}
        reply = fake.app.handle(ApiRequest("POST", "/v1/chat/completions", body=json.dumps(body).encode()))
        assert reply.json()["choices"][0]["message"]["content"] == "direct"


# --------------------------------------------------------------------------------------------
# isolation between tests


def test_each_test_starts_clean(lmstudio_fake: FakeLMStudio) -> None:
    assert lmstudio_fake.rules == []
    assert lmstudio_fake.requests == []


def test_scripted_replies_never_leak_under_xdist(pytester: pytest.Pytester) -> None:
    scripted = "\n".join(
        textwrap.dedent(
            f"""
            def test_scripted_{i}(lmstudio_fake):
                assert lmstudio_fake.rules == [] and lmstudio_fake.requests == []
                lmstudio_fake.reply("reply {i}")
                lmstudio_fake.fail(503, times=None, match="never-sent-{i}", optional=True)
                assert ask(lmstudio_fake, "hello") == "reply {i}"
                lmstudio_fake.configure(jit=False)  # restored for the next test

            def test_default_{i}(lmstudio_fake):
                assert lmstudio_fake.rules == [] and lmstudio_fake.requests == []
                assert lmstudio_fake.settings.jit is True
                assert lmstudio_fake.home.instances() == []  # the model a previous test loaded is gone
                assert ask(lmstudio_fake, "hello").startswith('You said: "hello"')
            """
        )
        for i in range(6)
    )
    pytester.makepyfile(
        test_leak=textwrap.dedent(
            """
            import openai

            def ask(fake, text):
                client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
                r = client.chat.completions.create(
                    model="qwen/qwen3-4b", messages=[{"role": "user", "content": text}]
                )
                return r.choices[0].message.content
            """
        )
        + scripted
    )
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=12)


def test_reply_applies_to_native_endpoints(lmstudio_fake: FakeLMStudio) -> None:
    import httpx

    lmstudio_fake.reply("native!")
    v1 = httpx.post(lmstudio_fake.url + "/api/v1/chat", json={"model": LLM, "input": "hi"}).json()
    assert v1["output"][-1] == {"type": "message", "content": "native!"}
    body = {"model": LLM, "messages": [{"role": "user", "content": "hi"}]}
    v0 = httpx.post(lmstudio_fake.url + "/api/v0/chat/completions", json=body).json()
    assert v0["choices"][0]["message"]["content"] == "native!"


def test_match_on_headers_and_stream(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply("for test 7", match={"headers": {"X-Test-Id": "7"}})
    lmstudio_fake.reply("streamed", match={"stream": True})
    tagged = client.with_options(default_headers={"x-test-id": "7"})
    assert ask(tagged, "hi") == "for test 7"
    assert ask(client, "hi") != "for test 7"
    assert ask_streamed(client, "hi") == "streamed"


def test_reply_tool_calls_accepts_dicts(client: openai.OpenAI, lmstudio_fake: FakeLMStudio) -> None:
    lmstudio_fake.reply_tool_calls([{"name": "get_weather", "arguments": '{"city":"Bern"}'}])
    r = client.chat.completions.create(
        model=LLM, messages=[{"role": "user", "content": "Bern?"}], tools=[WEATHER_TOOL]
    )
    assert r.choices[0].message.tool_calls[0].function.arguments == '{"city":"Bern"}'


def test_an_unused_reply_fails_its_test_unless_optional(pytester: pytest.Pytester) -> None:
    """Issue 15 item 5: a scripted reply that never fires used to let the test pass (respx fails
    such a test by default)."""
    pytester.makepyfile(
        test_unused=textwrap.dedent(
            """
            def test_forgotten(lmstudio_fake):
                lmstudio_fake.reply("never asked for")

            def test_optional(lmstudio_fake):
                lmstudio_fake.reply("may go unused", optional=True)
                lmstudio_fake.fail(503, optional=True)

            def test_used(lmstudio_fake):
                import httpx
                lmstudio_fake.reply("used")
                body = {"model": "qwen/qwen3-4b", "messages": [{"role": "user", "content": "x"}]}
                r = httpx.post(lmstudio_fake.base_url + "/chat/completions", json=body)
                assert r.json()["choices"][0]["message"]["content"] == "used"
            """
        )
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_forgotten*",
            "lmstudio_fake: 1 scripted rule(s) never acted on a request:",
            "  <Rule #1 reply text match=any request forever>",
        ]
    )
    pytester.makeini("[pytest]\nlmstudio_unused_scripts = ignore\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=3)


def test_reply_json_that_breaks_the_requests_schema_fails_at_the_script(
    client: openai.OpenAI, lmstudio_fake: FakeLMStudio
) -> None:
    """Issue 15 item 5: the mismatch used to surface inside the app as a pydantic error."""

    class City(BaseModel):
        name: str
        population: int

    lmstudio_fake.reply_json({"name": "Paris", "population": "lots"})
    with pytest.raises(openai.InternalServerError):
        client.beta.chat.completions.parse(
            model=LLM, messages=[{"role": "user", "content": "a city"}], response_format=City
        )
    with pytest.raises(ScriptError, match=r"reply_json's value does not match the JSON schema.*population"):
        lmstudio_fake.check_handler_errors()
    # on purpose: the app's handling of invalid output
    lmstudio_fake.reply_json({"name": "Paris", "population": "lots"}, check_schema=False)
    r = client.chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "a city"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "c", "schema": City.model_json_schema()},
        },
    )
    assert json.loads(r.choices[0].message.content or "") == {"name": "Paris", "population": "lots"}
    lmstudio_fake.reply_json({"name": "Paris", "population": 2_100_000})  # valid: answered
    r = client.chat.completions.create(
        model=LLM,
        messages=[{"role": "user", "content": "a city"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "c", "schema": City.model_json_schema()},
        },
    )
    assert json.loads(r.choices[0].message.content or "")["population"] == 2_100_000
