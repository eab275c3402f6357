"""Your own model names (issue 15 item 1, the fake's side): ``add_model`` puts a model the default
catalog lacks into the fake, with a plausible spec guessed from its name, in process and over the
control API; a reset takes it away again."""

from __future__ import annotations

import subprocess
import sys

import httpx
import openai
import pytest

from fake_lms import FakeLMStudio, ModelSpec
from fake_lms.scripting.remote import ControlClient, ControlError

MINE = "llama-3.2-3b-instruct"


def test_a_model_the_catalog_lacks_is_refused_until_added(fake: FakeLMStudio) -> None:
    client = openai.OpenAI(base_url=fake.base_url, api_key="lm-studio", max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MINE, messages=[{"role": "user", "content": "hi"}])
    entry = fake.add_model(MINE)
    assert entry["key"] == MINE and entry["type"] == "llm" and entry["params_string"] == "3B"
    fake.reply("scripted for my model")
    r = client.chat.completions.create(model=MINE, messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content == "scripted for my model" and r.model == MINE
    assert MINE in [m.id for m in client.models.list().data]


def test_guessed_kinds_and_explicit_fields(fake: FakeLMStudio) -> None:
    assert fake.add_model("text-embedding-bge-m3")["type"] == "embedding"
    r = httpx.post(fake.base_url + "/embeddings", json={"model": "text-embedding-bge-m3", "input": "x"})
    assert r.status_code == 200
    entry = fake.add_model("acme/tiny", vision=True, max_context_length=8192)
    assert entry["vision"] is True and entry["max_context_length"] == 8192
    assert ModelSpec.plausible("qwen/qwen3-8b").reasoning == ("off", "on")


def test_not_downloaded_models_can_be_fetched_with_lms_get_semantics(fake: FakeLMStudio) -> None:
    fake.add_model("acme/later-7b", downloaded=False)
    r = httpx.post(
        fake.base_url + "/chat/completions",
        json={"model": "acme/later-7b", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 400  # in the catalog, not downloaded
    r = httpx.post(fake.url + "/api/v1/models/download", json={"model": "acme/later-7b"})
    assert r.status_code == 200


def test_bad_fields_are_refused(fake: FakeLMStudio) -> None:
    with pytest.raises(ValueError, match=r"no_such_field|unknown"):
        fake.add_model("acme/x", no_such_field=1)
    with pytest.raises(ValueError):
        fake.add_model("  ")


def test_reset_takes_added_models_away(fake: FakeLMStudio) -> None:
    fake.add_model(MINE)
    fake.reset()
    assert fake.home.catalog.find(MINE) is None


def test_over_the_control_api_and_for_the_fake_lms(tmp_path) -> None:
    home = tmp_path / "home"
    with FakeLMStudio(home=home) as fake:
        remote = ControlClient(fake.url)
        assert remote.add_model(MINE)["key"] == MINE
        with pytest.raises(ControlError, match=r"no_such_field|unknown"):
            remote.add_model("acme/x", no_such_field=1)
        out = subprocess.run(
            [sys.executable, "-m", "fake_lms", "ls", "--json"],
            env={"LMS_FAKE_HOME": str(home), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0 and MINE in out.stdout
