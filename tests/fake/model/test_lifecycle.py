"""Model lifecycle over real HTTP: JIT loading, JIT off, idle TTL, auto-evict, instance identifiers,
simulated load times, and one consistent view through /v1/models, /api/v0 and /api/v1 (spec §3.1, §5)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.model.catalog import Catalog
from fake_lms.model.home import ModelNotDownloaded, Settings

GEMMA = "google/gemma-3-1b"
QWEN = "qwen/qwen3-4b"
NOMIC = "text-embedding-nomic-embed-text-v1.5"
NO_MODELS_LOADED = {
    "error": {
        "message": "No models loaded. Please load a model in the developer page or use the 'lms load' "
        "command.",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    }
}


@pytest.fixture
def fake(tmp_path):
    with FakeLMStudio(home=tmp_path / "home") as server:
        yield server


@pytest.fixture
def client(fake):
    with httpx.Client(base_url=fake.url, timeout=10, verify=False) as c:
        yield c


def chat(client: httpx.Client, model: str, **extra: Any) -> httpx.Response:
    return client.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}], **extra},
    )


def views(client: httpx.Client) -> dict[str, Any]:
    """What the three listings say: /v1/models ids, v0 states, v1 loaded instance ids."""
    oai = [m["id"] for m in client.get("/v1/models").json()["data"]]
    v0 = {m["id"]: m["state"] for m in client.get("/api/v0/models").json()["data"]}
    v1 = {
        m["key"]: [i["id"] for i in m["loaded_instances"]]
        for m in client.get("/api/v1/models").json()["models"]
    }
    return {"oai": oai, "v0": v0, "v1": v1}


def assert_consistent(fake: FakeLMStudio, client: httpx.Client) -> dict[str, Any]:
    """Every listing agrees with the home: the same models, the same loaded instances."""
    seen = views(client)
    instances = fake.home.instances()
    loaded = {}
    for inst in instances:
        loaded.setdefault(inst.model_key, []).append(inst.identifier)
    if fake.settings.jit:
        listed = [s.key for s in fake.home.downloaded_specs()]
        assert seen["oai"] == listed
    else:
        listed = [s.key for s in fake.home.catalog if s.key in loaded]
        assert seen["oai"] == [inst.identifier for inst in instances]
    assert list(seen["v0"]) == listed == list(seen["v1"])
    for key in listed:
        assert seen["v1"][key] == loaded.get(key, [])
        assert seen["v0"][key] == ("loaded" if key in loaded else "not-loaded")
    return seen


# -- JIT loading -------------------------------------------------------------------------------


def test_jit_is_on_by_default_and_loads_on_request(fake, client):
    assert fake.settings.jit is True
    assert fake.home.instances() == []
    assert_consistent(fake, client)
    resp = chat(client, GEMMA)
    assert resp.status_code == 200 and resp.json()["model"] == GEMMA
    (inst,) = fake.home.instances()
    assert inst.identifier == GEMMA and inst.jit and inst.ttl_seconds == 3600.0  # 60-minute default
    assert_consistent(fake, client)


def test_jit_load_takes_the_configured_load_time(fake, client):
    fake.configure(load_seconds=0.3)
    started = time.monotonic()
    assert chat(client, GEMMA).status_code == 200
    assert time.monotonic() - started >= 0.3
    (loaded,) = fake.home.instances()
    assert chat(client, GEMMA).status_code == 200  # loaded now: no second load
    assert [i.loaded_at for i in fake.home.instances()] == [loaded.loaded_at]


def test_explicit_load_takes_the_configured_load_time(fake, client):
    fake.configure(load_seconds=0.2)
    started = time.monotonic()
    body = client.post("/api/v1/models/load", json={"model": GEMMA}).json()
    assert time.monotonic() - started >= 0.2
    assert body["load_time_seconds"] == pytest.approx(0.2, abs=0.1)


def test_realistic_durations_scale_with_size():
    spec = Catalog.default().get(QWEN)
    assert spec is not None
    settings = Settings(load_seconds=0.5, load_seconds_per_gb=1.5, download_bytes_per_second=50e6)
    assert settings.load_delay(spec) == pytest.approx(0.5 + 1.5 * 2.49728)
    assert settings.download_duration(spec) == pytest.approx(spec.size_bytes / 50e6)
    defaults = Settings()
    assert defaults.load_delay(spec) == 0 and defaults.download_duration(spec) < 1


def test_concurrent_requests_load_a_model_once(fake):
    fake.configure(load_seconds=0.2)
    results: list[int] = []

    def one() -> None:
        with httpx.Client(base_url=fake.url, timeout=10, verify=False) as c:
            results.append(chat(c, GEMMA).status_code)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 6
    assert [i.identifier for i in fake.home.instances()] == [GEMMA]


def test_not_downloaded_model_cannot_be_loaded(fake, client):
    resp = chat(client, "openai/gpt-oss-20b")
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "model_not_found" and error["message"].startswith(
        'Invalid model identifier "openai'
    )
    assert client.post("/api/v1/models/load", json={"model": "openai/gpt-oss-20b"}).status_code == 404
    with pytest.raises(ModelNotDownloaded):
        fake.home.load("openai/gpt-oss-20b")
    assert fake.home.instances() == []


def test_embeddings_request_jit_loads_embedding_model(fake, client):
    resp = client.post("/v1/embeddings", json={"model": NOMIC, "input": "x"})
    assert resp.status_code == 200
    assert [i.model_key for i in fake.home.instances()] == [NOMIC]


# -- JIT off -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ("/api/v0/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/completions", {"prompt": "hi"}),
    ],
)
def test_jit_off_nothing_loaded_exact_error(fake, client, path, body):
    fake.configure(jit=False)
    resp = client.post(path, json={"model": GEMMA, **body})
    assert resp.status_code == 400
    assert resp.json() == NO_MODELS_LOADED
    assert fake.home.instances() == []


def test_jit_off_native_v1_chat_error_is_v1_shaped(fake, client):
    fake.configure(jit=False)
    resp = client.post("/api/v1/chat", json={"model": GEMMA, "input": "x"})
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "message": NO_MODELS_LOADED["error"]["message"],
        "type": "invalid_request",
        "param": "model",
    }


def test_jit_off_listings_show_only_loaded_models(fake, client):
    fake.configure(jit=False)
    assert assert_consistent(fake, client) == {"oai": [], "v0": {}, "v1": {}}
    fake.home.load(QWEN, identifier="my-qwen")
    seen = assert_consistent(fake, client)
    assert seen["oai"] == ["my-qwen"]  # /v1/models lists instance identifiers with JIT off
    assert seen["v1"] == {QWEN: ["my-qwen"]}


def test_jit_off_single_loaded_model_answers_for_any_name(fake, client):
    fake.configure(jit=False)
    fake.home.load(GEMMA)
    for name in ("gpt-4o", "nope/nope", QWEN):
        body = chat(client, name).json()
        assert body["model"] == body["system_fingerprint"] == GEMMA
    native = client.post("/api/v1/chat", json={"model": "anything", "input": "x"}).json()
    assert native["model_instance_id"] == GEMMA
    assert [i.identifier for i in fake.home.instances()] == [GEMMA]  # nothing was JIT-loaded


def test_jit_off_several_loaded_unknown_name_is_invalid_model(fake, client):
    fake.configure(jit=False)
    fake.home.load(GEMMA)
    fake.home.load(QWEN)
    resp = chat(client, "gpt-4o")
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert error["message"].startswith('Invalid model identifier "gpt-4o".')
    assert chat(client, QWEN).json()["model"] == QWEN  # a loaded model by name still works


# -- idle TTL ----------------------------------------------------------------------------------


def test_per_request_ttl_unloads_idle_jit_model(fake, client):
    assert chat(client, GEMMA, ttl=1).status_code == 200
    (inst,) = fake.home.instances()
    assert inst.ttl_seconds == 1.0
    time.sleep(1.15)
    assert fake.home.instances() == []
    seen = assert_consistent(fake, client)
    assert seen["v0"][GEMMA] == "not-loaded"


def test_ttl_resets_on_use(fake, client):
    chat(client, GEMMA, ttl=0.6)
    time.sleep(0.35)
    assert chat(client, GEMMA).status_code == 200  # used: the idle timer starts again
    time.sleep(0.35)  # 0.7 s after the load, 0.35 s idle
    assert [i.identifier for i in fake.home.instances()] == [GEMMA]
    time.sleep(0.4)
    assert fake.home.instances() == []


def test_ttl_expiry_with_jit_off_leaves_nothing_loaded(fake, client):
    client.post("/api/v1/models/load", json={"model": GEMMA, "ttl": 0.5})
    fake.configure(jit=False)
    assert chat(client, "whatever").status_code == 200
    time.sleep(0.7)
    assert chat(client, "whatever").json() == NO_MODELS_LOADED
    assert client.get("/v1/models").json() == {"data": [], "object": "list"}


def test_ttl_only_applies_when_the_request_loads(fake, client):
    client.post("/api/v1/models/load", json={"model": GEMMA})
    chat(client, GEMMA, ttl=1)
    (inst,) = fake.home.instances()
    assert inst.ttl_seconds is None and not inst.jit  # explicit loads have no TTL


def test_jit_ttl_setting_changes_the_default(fake, client):
    fake.configure(jit_ttl_seconds=90)
    chat(client, GEMMA)
    assert fake.home.instances()[0].ttl_seconds == 90


@pytest.mark.parametrize("ttl", [0, -5, "10", True])
def test_bad_ttl_rejected(client, ttl):
    resp = chat(client, GEMMA, ttl=ttl)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "ttl"


# -- auto-evict --------------------------------------------------------------------------------


def test_auto_evict_keeps_only_the_last_jit_model(fake, client):
    client.post("/api/v1/models/load", json={"model": NOMIC})  # explicit: never evicted
    chat(client, GEMMA)
    assert {i.model_key for i in fake.home.instances()} == {NOMIC, GEMMA}
    chat(client, QWEN)
    assert {i.model_key for i in fake.home.instances()} == {NOMIC, QWEN}
    assert_consistent(fake, client)
    assert fake.home.snapshot().evicted[-1]["identifier"] == GEMMA
    assert fake.home.snapshot().evicted[-1]["reason"] == "auto-evict"


def test_explicitly_loaded_models_are_never_evicted(fake, client):
    client.post("/api/v1/models/load", json={"model": GEMMA})
    chat(client, QWEN)
    client.post("/v1/embeddings", json={"model": NOMIC, "input": "x"})
    assert {i.model_key for i in fake.home.instances()} == {GEMMA, NOMIC}


def test_auto_evict_off_keeps_every_jit_model(fake, client):
    fake.configure(auto_evict=False)
    chat(client, GEMMA)
    chat(client, QWEN)
    assert {i.model_key for i in fake.home.instances()} == {GEMMA, QWEN}


# -- instance identifiers ----------------------------------------------------------------------


def test_instance_identifiers_answer_requests(fake, client):
    client.post("/api/v1/models/load", json={"model": GEMMA})
    second = client.post("/api/v1/models/load", json={"model": GEMMA}).json()["instance_id"]
    assert second == f"{GEMMA}:2"
    body = chat(client, second).json()
    assert body["model"] == body["system_fingerprint"] == second
    assert chat(client, GEMMA).json()["model"] == GEMMA
    v0 = client.post(
        "/api/v0/chat/completions", json={"model": second, "messages": [{"role": "user", "content": "x"}]}
    ).json()
    assert v0["model"] == second
    native = client.post("/api/v1/chat", json={"model": second, "input": "x"}).json()
    assert native["model_instance_id"] == second


def test_key_request_served_by_custom_identifier_instance(fake, client):
    fake.home.load(GEMMA, identifier="my-gemma")
    body = chat(client, GEMMA).json()
    assert body["model"] == "my-gemma"
    assert [i.identifier for i in fake.home.instances()] == ["my-gemma"]  # no second load


def test_variant_key_answers_and_embeddings_echo_variant(fake, client):
    assert chat(client, f"{GEMMA}@q4_k_m").json()["model"] == GEMMA
    body = client.post("/v1/embeddings", json={"model": NOMIC, "input": "x"}).json()
    assert body["model"] == f"{NOMIC}@q4_k_m"


# -- one consistent view -----------------------------------------------------------------------


def test_every_change_is_visible_in_every_listing(fake, client):
    fake.configure(download_seconds=0.05)
    assert_consistent(fake, client)
    chat(client, GEMMA)  # JIT load
    assert_consistent(fake, client)
    client.post("/api/v1/models/load", json={"model": QWEN})
    client.post("/api/v1/models/load", json={"model": QWEN})
    assert views(client)["v1"][QWEN] == [QWEN, f"{QWEN}:2"]
    assert_consistent(fake, client)
    client.post("/api/v1/models/unload", json={"instance_id": QWEN})
    assert_consistent(fake, client)
    fake.home.load(NOMIC)  # through the home, as the fake lms does
    assert_consistent(fake, client)
    client.post("/api/v1/models/download", json={"model": "openai/gpt-oss-20b"})
    time.sleep(0.1)
    assert "openai/gpt-oss-20b" in assert_consistent(fake, client)["v1"]
    fake.configure(jit=False)
    assert_consistent(fake, client)
    fake.home.unload_all()
    assert assert_consistent(fake, client) == {"oai": [], "v0": {}, "v1": {}}
