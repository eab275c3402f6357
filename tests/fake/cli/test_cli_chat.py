# ruff: noqa: F811  (pytest fixtures imported from test_cli_support)
"""`lms chat -p` (issue 14): a one-shot prompt answered by the running fake server's /api/v1/chat,
so scripted replies and faults answer it; the prompt from -p and/or piped stdin; real texts and
exit codes for no server, no model, no prompt and a failed prediction."""

from __future__ import annotations

import pytest
from test_cli_support import Lms, free_port, home, lms, server  # noqa: F401  (fixtures)

from fake_lms.model.home import Home

SYSTEM = "You are an AI assistant running in the user's terminal. Provide helpful and concise responses."


def chat_requests(fake) -> list:
    return [r for r in fake.requests if r.path == "/api/v1/chat"]


def test_without_a_server_it_fails_as_lms_does_without_lm_studio(lms: Lms, home: Home) -> None:
    home.load("google/gemma-3-1b")
    result = lms.run("chat", "-p", "hi")
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: LM Studio daemon is not running and no valid installation could be found or installed.\n"
        "Error: Failed to start or connect to local LM Studio API server.\n"
    )


def test_a_scripted_reply_answers_the_prompt(lms: Lms, home: Home, server) -> None:
    home.load("google/gemma-3-1b")
    server.reply("Paris.")
    result = lms.run("chat", "-p", "Capital of France?")
    assert (result.code, result.stdout, result.stderr) == (0, "Paris.\n", "")
    (request,) = chat_requests(server)
    assert request.api == "native_v1" and request.operation == "chat"
    # stdin is not a terminal (/dev/null here), so lms appends what it read after a blank line
    assert request.json == {
        "model": "google/gemma-3-1b",
        "input": "Capital of France?\n\n",
        "system_prompt": SYSTEM,
        "stream": True,
        "store": False,
    }


def test_the_prompt_comes_from_piped_stdin(lms: Lms, home: Home, server) -> None:
    home.load("google/gemma-3-1b")
    server.reply("4")
    result = lms.run("chat", input=b"  What is 2+2?\n")
    assert (result.code, result.stdout) == (0, "4\n")
    result = lms.run("chat", "-p", "Answer briefly:", "-s", "Be terse.", input=b"What is 2+2?\n")
    assert result.code == 0
    first, second = chat_requests(server)
    assert first.json["input"] == "What is 2+2?"
    assert second.json["input"] == "Answer briefly:\n\nWhat is 2+2?"
    assert second.json["system_prompt"] == "Be terse."


def test_an_answer_ending_in_a_newline_gets_no_second_one(lms: Lms, home: Home, server) -> None:
    home.load("google/gemma-3-1b")
    server.reply("line one\nline two\n")
    assert lms.run("chat", "-p", "x").stdout == "line one\nline two\n"


def test_a_named_model_is_loaded_with_the_chat_ttl(lms: Lms, home: Home, server) -> None:
    assert home.instances() == []
    assert lms.run("chat", "google/gemma-3-1b", "-p", "hi").code == 0
    assert [(i.identifier, i.ttl_seconds) for i in home.instances()] == [("google/gemma-3-1b", 3600)]
    assert lms.run("chat", "qwen/qwen3-4b", "--ttl", "60", "-p", "hi").code == 0
    ttls = {i.identifier: i.ttl_seconds for i in home.instances()}
    assert ttls["qwen/qwen3-4b"] == 60
    # an identifier that is loaded is used as it is, not loaded again
    home.load("google/gemma-3-1b", identifier="g")
    assert lms.run("chat", "g", "-p", "hi").code == 0
    assert chat_requests(server)[-1].json["model"] == "g"
    assert len(home.instances()) == 3


def test_reasoning_is_printed_between_think_tags(lms: Lms, home: Home, server) -> None:
    home.load("qwen/qwen3-4b")
    server.reply("The answer.")
    result = lms.run("chat", "-p", "Why?")
    assert result.code == 0
    head, sep, tail = result.stdout.partition("\n</think>\n")
    assert head.startswith("<think>\n") and len(head) > len("<think>\n")
    assert (sep, tail) == ("\n</think>\n", "The answer.\n")
    result = lms.run("chat", "-p", "Why?", "--reasoning", "off")
    assert (result.code, result.stdout) == (0, "The answer.\n")
    assert chat_requests(server)[-1].json["reasoning"] == "off"


def test_stats_go_to_stderr(lms: Lms, home: Home, server) -> None:
    home.load("google/gemma-3-1b")
    server.reply("ok")
    result = lms.run("chat", "-p", "x", "--stats")
    assert (result.code, result.stdout) == (0, "ok\n")
    lines = result.stderr.split("\n")
    assert lines[:4] == ["", "", "Prediction Stats:", "  Stop Reason: eosFound"]
    assert lines[4].startswith("  Tokens/Second: ") and lines[5].startswith("  Time to First Token: ")
    prompt, predicted, total = (int(line.rsplit(" ", 1)[1]) for line in lines[6:9])
    assert lines[6].startswith("  Prompt Tokens: ") and predicted >= 1 and total == prompt + predicted


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-p", "hi"), "Error: No loaded model found, load with:\n       lms load\n"),
        (
            ("nobody/nothing", "-p", "hi"),
            'Error: Model "nobody/nothing" not found, load with:\n       lms load nobody/nothing\n',
        ),
        (
            ("text-embedding-nomic-embed-text-v1.5", "-p", "hi"),
            'Error: Model "text-embedding-nomic-embed-text-v1.5" not found, load with:\n'
            "       lms load text-embedding-nomic-embed-text-v1.5\n",
        ),
    ],
)
def test_no_model_to_chat_with(lms: Lms, server, args: tuple[str, ...], message: str) -> None:
    result = lms.run("chat", *args)
    assert (result.code, result.stdout, result.stderr) == (1, "", message)
    assert chat_requests(server) == []


def test_no_prompt_is_an_error_that_exits_0(lms: Lms, home: Home, server) -> None:
    home.load("google/gemma-3-1b")
    result = lms.run("chat", input=b"  \n")
    assert (result.code, result.stdout, result.stderr) == (
        0,
        "",
        "Error: No prompt provided for non-interactive chat.\n",
    )


def test_a_failed_prediction_exits_1(lms: Lms, home: Home, server) -> None:
    home.load("google/gemma-3-1b")
    server.fail(500, message="The model crashed")
    result = lms.run("chat", "-p", "x")
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == "Error: Error during chat: [Server Error] The model crashed\n"


def test_a_stream_error_midway_exits_1(lms: Lms, home: Home, server) -> None:
    home.load("google/gemma-3-1b")
    server.reply("one two three four five")
    server.stream_error(after=2, message="Generation failed")
    result = lms.run("chat", "-p", "x")
    assert result.code == 1
    assert result.stderr.endswith("Error: Error during chat: Generation failed\n")


def test_usage_errors_are_commanders(lms: Lms) -> None:
    result = lms.run("chat", "--reasoning", "maybe")
    assert (result.code, result.stderr) == (
        1,
        "error: option '--reasoning <mode>' argument 'maybe' is invalid. "
        "Allowed choices are auto, on, off.\n",
    )
    result = lms.run("chat", "--ttl", "0")
    assert (result.code, result.stderr) == (
        1,
        "error: option '--ttl <ttl>' argument '0' is invalid. Number out of range, must be at least 1\n",
    )
    assert lms.run("chat", "--bogus").stderr == "error: unknown option '--bogus'\n"


def test_host_and_port_name_the_server(lms: Lms, home: Home, server) -> None:
    home.load("google/gemma-3-1b")
    server.reply("via the port")
    result = lms.run("chat", "--port", str(server.port), "-p", "x")
    assert (result.code, result.stdout) == (0, "via the port\n")
    port = free_port()
    result = lms.run("chat", "--port", str(port), "-p", "x")
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr.startswith(f"Error: The server does not appear to be running at 127.0.0.1:{port}.")
    assert len(chat_requests(server)) == 1


def test_a_server_that_requires_a_token_gets_lm_api_token(lms: Lms, home: Home, server) -> None:
    home.load("google/gemma-3-1b")
    home.update_settings(require_auth=True)
    token = "sk-lm-abcdefgh:abcdefghijklmnopqrst"
    home.add_token(token)
    server.reply("authorised")
    result = lms.run("chat", "-p", "x")
    assert result.code == 1 and result.stderr.startswith("Error: Error during chat: ")
    result = lms.run("chat", "-p", "x", env={"LM_API_TOKEN": token})
    assert (result.code, result.stdout) == (0, "authorised\n")
