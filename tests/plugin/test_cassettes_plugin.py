"""Record and replay through the plugin, in real pytest runs (pytester subprocesses, xdist -n 2).

The "real" LM Studio is a separate ``python -m fake_lms serve`` process scripted with distinctive
answers; the inner suite records against it with ``--lmstudio-record-mode=once``, then passes with
that process stopped, getting the upstream's answers from the cassettes.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fake_lms.cli.launcher import install_lms
from fake_lms.scripting.remote import ControlClient

pytest_plugins = ["pytester"]

TOKEN = "sk-lm-Rec0rd12:Pa55keyPa55keyPa55ke"
ENV_NAMES = [
    "LMSTUDIO_MODE",
    "LMSTUDIO_URL",
    "LMSTUDIO_BASE_URL",
    "LM_STUDIO_API_BASE",
    "LMSTUDIO_API_KEY",
    "LM_API_TOKEN",
    "LM_STUDIO_API_KEY",
    "LMSTUDIO_RECORD_MODE",
    "LMSTUDIO_CASSETTES",
    "LMS_FAKE_HOME",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
]

SUITE = """
import json
import subprocess

import pytest

MODEL = "qwen/qwen3-4b"
pytestmark = pytest.mark.lmstudio(cassette=True)


def ask(client, prompt, **kwargs):
    return client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}], **kwargs
    )


def test_plain(lmstudio_openai):
    answer = ask(lmstudio_openai, "PLAIN_PROMPT")
    assert answer.choices[0].message.content == "upstream says plain"


def test_stream(lmstudio_openai):
    chunks = ask(lmstudio_openai, "Stream a greeting", stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "upstream streams hello"


def test_tools(lmstudio_openai):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}}}}]
    answer = ask(lmstudio_openai, "Weather in Paris?", tools=tools)
    call = answer.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris-upstream"}


def test_structured(lmstudio_openai):
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
    answer = ask(lmstudio_openai, "A person, please", response_format={
        "type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
    assert json.loads(answer.choices[0].message.content) == {"name": "upstream Ada", "age": 36}


def test_lms_subprocess(lmstudio_openai, lmstudio_env):
    subprocess.run(["lms", "load", MODEL, "--yes"], check=True, capture_output=True)
    ps = subprocess.run(["lms", "ps"], check=True, capture_output=True, text=True)
    assert MODEL in ps.stdout
    assert ask(lmstudio_openai, "After lms").choices[0].message.content == "upstream says lms"
"""


@dataclass
class Upstream:
    url: str
    home: Path
    bin_dir: Path
    proc: subprocess.Popen[str]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def script(self, *, plain_as_tool_call: bool = False) -> ControlClient:
        control = ControlClient(self.url)
        if plain_as_tool_call:
            control.reply_tool_call("lookup", {"q": "plain"}, match={"contains": "PLAIN_PROMPT"})
        else:
            control.reply("upstream says plain", match={"contains": "PLAIN_PROMPT"})
        control.reply("upstream streams hello", match={"contains": "Stream a greeting"})
        control.reply_tool_call("get_weather", {"city": "Paris-upstream"}, match={"contains": "Weather in"})
        control.reply_json({"name": "upstream Ada", "age": 36}, match={"contains": "A person"})
        control.reply("upstream says lms", match={"contains": "After lms"})
        return control


def start_upstream(tmp_path: Path, *args: str) -> Upstream:
    home = tmp_path / "upstream-home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("http://")
    # the user's own `lms` talks to their real LM Studio: here, the fake `lms` on the upstream's home
    bin_dir = install_lms(tmp_path / "user-bin", home=home).parent
    return Upstream(url, home, bin_dir, proc)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(
        "PATH",
        os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "lms").exists()),
    )


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[Upstream]:
    server = start_upstream(tmp_path)
    server.script()
    yield server
    server.stop()


def record_args(upstream: Upstream, mode: str = "once") -> list[str]:
    return ["--lmstudio-mode=live", "--lmstudio-url", upstream.url, f"--lmstudio-record-mode={mode}"]


def with_user_lms(monkeypatch: pytest.MonkeyPatch, upstream: Upstream) -> None:
    monkeypatch.setenv("PATH", f"{upstream.bin_dir}{os.pathsep}{os.environ['PATH']}")


def cassette_texts(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*.yaml"))}


def test_record_once_then_replay_under_xdist_with_no_server(
    pytester: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_app=SUITE)
    with monkeypatch.context() as m:
        with_user_lms(m, upstream)
        recorded = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", *record_args(upstream))
    recorded.assert_outcomes(passed=5)
    recorded.stdout.fnmatch_lines(
        ["*LM Studio cassettes*", "*test_app.py::test_plain: recorded 1 exchange(s)*"]
    )
    files = cassette_texts(pytester.path / "cassettes")
    assert sorted(files) == [
        f"test_app/{name}.yaml"
        for name in ("test_lms_subprocess", "test_plain", "test_stream", "test_structured", "test_tools")
    ]
    assert "upstream says plain" in files["test_app/test_plain.yaml"]
    # each test's exchanges landed in its own cassette (two workers recorded at once)
    for name, text in files.items():
        interactions = yaml.safe_load(text)["interactions"]
        assert len(interactions) == 1, name
    upstream.stop()

    replayed = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "--lmstudio-url", upstream.url)
    replayed.assert_outcomes(passed=5)
    assert cassette_texts(pytester.path / "cassettes") == files  # replay writes nothing

    # one changed prompt fails exactly that test, with the miss explained
    pytester.makepyfile(test_app=SUITE.replace('"PLAIN_PROMPT"', '"PLAIN_PROMPT, changed"'))
    missed = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "--lmstudio-url", upstream.url)
    missed.assert_outcomes(passed=4, failed=1)
    missed.stdout.fnmatch_lines(
        [
            "*cassette miss in test_app.py::test_plain*",
            "*unmatched request: POST /v1/chat/completions model=qwen/qwen3-4b "
            'last message: "(user) PLAIN_PROMPT, changed"*',
            "*closest recorded request: #1 of 1: POST /v1/chat/completions*",
            '*- messages[[]0].content: "PLAIN_PROMPT"*',
            '*+ messages[[]0].content: "PLAIN_PROMPT, changed"*',
            "*to record it: pytest test_app.py::test_plain --lmstudio-record-mode=new_episodes "
            "--lmstudio-url http://127.0.0.1:*",
            "FAILED test_app.py::test_plain*",
        ]
    )


def test_new_episodes_records_only_the_missing_exchange(
    pytester: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_app=SUITE)
    monkeypatch.setenv("PATH", f"{upstream.bin_dir}{os.pathsep}{os.environ['PATH']}")
    pytester.runpytest_subprocess(*record_args(upstream)).assert_outcomes(passed=5)
    before = cassette_texts(pytester.path / "cassettes")
    control = ControlClient(upstream.url)
    control.reply("upstream says plain", match={"contains": "PLAIN_PROMPT"})  # the changed prompt too
    pytester.makepyfile(test_app=SUITE.replace('"PLAIN_PROMPT"', '"PLAIN_PROMPT, changed"'))
    control.reset()
    upstream.script()
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", *record_args(upstream, "new_episodes"))
    result.assert_outcomes(passed=5)
    after = cassette_texts(pytester.path / "cassettes")
    changed = [name for name in after if after[name] != before[name]]
    assert changed == ["test_app/test_plain.yaml"]
    plain = yaml.safe_load(after["test_app/test_plain.yaml"])["interactions"]
    said = [i["request"]["body"]["json"]["messages"][0]["content"] for i in plain]
    assert said == ["PLAIN_PROMPT", "PLAIN_PROMPT, changed"]
    generations = [r for r in control.requests if r.operation == "chat"]
    assert len(generations) == 1  # only the new exchange reached the upstream


def test_recording_with_an_api_key_leaves_no_trace(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = start_upstream(tmp_path, "--require-auth", "--api-token", TOKEN)
    try:
        upstream.script()
        pytester.makepyfile(test_app=SUITE)
        with_user_lms(monkeypatch, upstream)
        junit = pytester.path / "junit.xml"
        result = pytester.runpytest_subprocess(
            "-p",
            "xdist",
            "-n",
            "2",
            *record_args(upstream),
            "--lmstudio-api-key",
            TOKEN,
            f"--junitxml={junit}",
            "-rA",
            "-v",
        )
        result.assert_outcomes(passed=5)
    finally:
        upstream.stop()
    client_id, passkey = TOKEN[len("sk-lm-") :].split(":")
    texts = [*cassette_texts(pytester.path / "cassettes").values(), result.stdout.str(), result.stderr.str()]
    texts.append(junit.read_text())
    for text in texts:
        for secret in (TOKEN, client_id, passkey):
            assert secret not in text
    assert any("upstream says plain" in t for t in texts)  # the cassettes hold the answers, not the key


def test_rerecording_reports_drift(
    pytester: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_app=SUITE)
    with_user_lms(monkeypatch, upstream)
    pytester.runpytest_subprocess(*record_args(upstream)).assert_outcomes(passed=5)
    control = ControlClient(upstream.url)
    control.reset()
    upstream.script(plain_as_tool_call=True)  # the model now answers that prompt with a tool call
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", *record_args(upstream, "rewrite"))
    result.assert_outcomes(passed=4, failed=1)  # the application's assertion sees the new behaviour
    result.stdout.fnmatch_lines(
        [
            "*LM Studio cassette drift*",
            "test_app.py::test_plain",
            '*POST /v1/chat/completions model=qwen/qwen3-4b last message: "(user) PLAIN_PROMPT": '
            "tool calls changed*",
        ]
    )
    drift_section = result.stdout.str().split("LM Studio cassette drift", 1)[1]
    assert "test_stream" not in drift_section and "test_tools" not in drift_section


def test_readme_workflow_runs_as_written(pytester: pytest.Pytester, upstream: Upstream) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Record and replay (cassettes)") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    bash = re.search(r"```bash\n(.*?)```", section, re.S)
    assert code and bash
    record, _commit, replay = (line.split("#")[0].strip() for line in bash.group(1).strip().splitlines())
    assert record.startswith("pytest ") and replay == "pytest"
    pytester.makepyfile(test_chat=code.group(1))
    # "LM Studio running": here the upstream, on its own port
    recorded = pytester.runpytest_subprocess(*shlex.split(record)[1:], "--lmstudio-url", upstream.url)
    recorded.assert_outcomes(passed=1)
    assert (pytester.path / "cassettes" / "test_chat" / "test_greeting.yaml").is_file()
    upstream.stop()
    pytester.runpytest_subprocess(*shlex.split(replay)[1:]).assert_outcomes(passed=1)


SUITE_WIDE = """
import pytest

MODEL = "qwen/qwen3-4b"


def ask(client, prompt):
    answer = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": prompt}])
    return answer.choices[0].message.content


def test_unmarked(lmstudio_openai):
    assert ask(lmstudio_openai, "PLAIN_PROMPT") == "upstream says plain"


@pytest.mark.lmstudio(cassette="shared")
def test_shared_a(lmstudio_openai):
    assert ask(lmstudio_openai, "After lms") == "upstream says lms"


@pytest.mark.lmstudio(cassette="shared")
def test_shared_b(lmstudio_openai):
    assert ask(lmstudio_openai, "After lms") == "upstream says lms"


@pytest.mark.lmstudio(cassette=False)
def test_opted_out(lmstudio_server, lmstudio_openai):
    assert str(lmstudio_openai.base_url).startswith(lmstudio_server.url)
"""


def test_suite_wide_ini_env_mode_shared_names_and_opt_out(
    pytester: pytest.Pytester, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_wide=SUITE_WIDE)
    pytester.makeini("[pytest]\nlmstudio_cassettes = on\nlmstudio_cassette_dir = recorded\n")
    monkeypatch.setenv("LMSTUDIO_RECORD_MODE", "once")
    first = pytester.runpytest_subprocess("--lmstudio-url", upstream.url)
    first.assert_outcomes(passed=4)
    first.stdout.fnmatch_lines(["lmstudio cassettes: record mode once*every LM Studio test"])
    root = pytester.path / "recorded" / "test_wide"
    assert sorted(p.name for p in root.iterdir()) == ["shared.yaml", "test_unmarked.yaml"]
    assert len(yaml.safe_load((root / "shared.yaml").read_text())["interactions"]) == 1  # b replayed a's
    upstream.stop()
    monkeypatch.setenv("LMSTUDIO_RECORD_MODE", "none")
    second = pytester.runpytest_subprocess("--lmstudio-url", upstream.url, "-rs")
    second.assert_outcomes(passed=3, skipped=1)  # the opted-out test needs the (stopped) LM Studio


CUSTOM_MODEL = """
import subprocess

import pytest


@pytest.mark.lmstudio(cassette=True, models=["acme/real-7b"])
def test_custom_model(lmstudio_openai, lmstudio_model):
    assert lmstudio_model("acme/real-7b").key == "acme/real-7b"
    ps = subprocess.run(["lms", "ps"], check=True, capture_output=True, text=True)
    assert "acme/real-7b" in ps.stdout
    answer = lmstudio_openai.chat.completions.create(
        model="acme/real-7b", messages=[{"role": "user", "content": "PLAIN_PROMPT"}]
    )
    assert answer.choices[0].message.content == "upstream says plain"
"""


def test_replay_knows_the_models_the_recording_used(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text('{"models": [{"key": "acme/real-7b"}]}')
    upstream = start_upstream(tmp_path, "--catalog", str(catalog))
    try:
        upstream.script()
        pytester.makepyfile(test_models=CUSTOM_MODEL)
        with monkeypatch.context() as m:
            with_user_lms(m, upstream)
            pytester.runpytest_subprocess(*record_args(upstream)).assert_outcomes(passed=1)
    finally:
        upstream.stop()
    pytester.runpytest_subprocess("--lmstudio-url", upstream.url).assert_outcomes(passed=1)


INTERRUPTED = """
import pytest


@pytest.mark.lmstudio(cassette=True)
def test_cut_short(lmstudio_openai):
    lmstudio_openai.chat.completions.create(
        model="qwen/qwen3-4b", messages=[{"role": "user", "content": "PLAIN_PROMPT"}]
    )
    raise KeyboardInterrupt  # Ctrl-C in the middle of the test
"""


def test_an_interrupted_recording_writes_no_cassette(pytester: pytest.Pytester, upstream: Upstream) -> None:
    pytester.makepyfile(test_cut=INTERRUPTED)
    result = pytester.runpytest_subprocess(*record_args(upstream))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert not (pytester.path / "cassettes").exists()
    pytester.makepyfile(test_cut=INTERRUPTED.replace("raise KeyboardInterrupt", "pass"))
    pytester.runpytest_subprocess(*record_args(upstream)).assert_outcomes(passed=1)
    assert (pytester.path / "cassettes" / "test_cut" / "test_cut_short.yaml").is_file()
