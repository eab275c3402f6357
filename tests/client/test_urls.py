"""Base-URL normalisation and the client settings' environment precedence."""

from __future__ import annotations

import pytest

from pytest_lmstudio.client.config import ClientConfig
from pytest_lmstudio.client.urls import ServerURLs, normalize_base_url
from pytest_lmstudio.errors import InvalidBaseURL


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("http://localhost:1234", "http://localhost:1234"),
        ("http://localhost:1234/", "http://localhost:1234"),
        ("http://localhost:1234/v1", "http://localhost:1234"),
        ("http://localhost:1234/v1/", "http://localhost:1234"),
        ("localhost:1234", "http://localhost:1234"),
        ("127.0.0.1:1234", "http://127.0.0.1:1234"),
        ("127.0.0.1:1234/v1", "http://127.0.0.1:1234"),
        ("  http://127.0.0.1:1234/v1  ", "http://127.0.0.1:1234"),
        ("HTTP://LocalHost:1234/V1", "http://localhost:1234"),
        ("http://localhost:1234//v1//", "http://localhost:1234"),
        ("http://localhost:1234/v1/v1", "http://localhost:1234"),
        ("http://localhost:1234/api/v0", "http://localhost:1234"),
        ("http://localhost:1234/api/v1/", "http://localhost:1234"),
        ("https://example.com:8443/lmstudio/v1", "https://example.com:8443/lmstudio"),
        ("https://example.com", "https://example.com"),
        ("[::1]:1234", "http://[::1]:1234"),
        ("//127.0.0.1:1234", "http://127.0.0.1:1234"),
        ("192.168.1.100:1234/v1/", "http://192.168.1.100:1234"),
    ],
)
def test_normalize(given: str, root: str) -> None:
    urls = normalize_base_url(given)
    assert urls.root == root
    assert urls.openai == root + "/v1"
    assert urls.native_v0 == root + "/api/v0"
    assert urls.native_v1 == root + "/api/v1"
    assert "/v1/v1" not in urls.join("/v1/models")
    assert urls.join("/v1/models") == root + "/v1/models"


def test_join_never_doubles_slashes() -> None:
    urls = ServerURLs("http://h:1")
    assert urls.join("v1/models") == "http://h:1/v1/models"
    assert urls.join("//v1//models") == "http://h:1/v1/models"
    assert str(urls) == "http://h:1"


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("ws://127.0.0.1:1234", "WebSocket"),
        ("ftp://127.0.0.1:1234", "only http:// and https://"),
        ("", "empty"),
        ("   ", "empty"),
        ("http://", "no host"),
        ("http://127.0.0.1:1234/v1?x=1", "query string"),
        ("http://127.0.0.1:1234#frag", "query string or fragment"),
        ("http://user:pw@127.0.0.1:1234", "credentials"),
        ("http://127.0.0.1:99999", "invalid port"),
    ],
)
def test_rejects(given: str, fragment: str) -> None:
    with pytest.raises(InvalidBaseURL, match=fragment):
        normalize_base_url(given)


def test_rejects_non_string() -> None:
    with pytest.raises(InvalidBaseURL, match="must be a string"):
        normalize_base_url(1234)  # type: ignore[arg-type]


# -- environment precedence -------------------------------------------------------------------------


def test_defaults_with_empty_environment() -> None:
    cfg = ClientConfig.from_env({})
    assert cfg.base_url == "http://127.0.0.1:1234"
    assert cfg.openai_base_url == "http://127.0.0.1:1234/v1"
    assert cfg.api_key is None
    assert (cfg.base_url_source, cfg.api_key_source) == ("default", None)
    assert (cfg.timeout, cfg.connect_timeout) == (120.0, 5.0)


@pytest.mark.parametrize(
    ("env", "url", "source"),
    [
        (
            {
                "LMSTUDIO_URL": "http://a:1",
                "LMSTUDIO_BASE_URL": "http://b:2/v1",
                "LM_STUDIO_API_BASE": "http://c:3/v1",
            },
            "http://a:1",
            "LMSTUDIO_URL",
        ),
        (
            {"LMSTUDIO_BASE_URL": "http://b:2/v1", "LM_STUDIO_API_BASE": "http://c:3/v1"},
            "http://b:2",
            "LMSTUDIO_BASE_URL",
        ),
        ({"LM_STUDIO_API_BASE": "http://c:3/v1"}, "http://c:3", "LM_STUDIO_API_BASE"),
        (
            {"LMSTUDIO_URL": "", "LMSTUDIO_BASE_URL": "  ", "LM_STUDIO_API_BASE": "c:3"},
            "http://c:3",
            "LM_STUDIO_API_BASE",
        ),
    ],
)
def test_base_url_precedence(env: dict[str, str], url: str, source: str) -> None:
    cfg = ClientConfig.from_env(env)
    assert (cfg.base_url, cfg.base_url_source) == (url, source)


@pytest.mark.parametrize(
    ("env", "key", "source"),
    [
        (
            {"LMSTUDIO_API_KEY": "k1", "LM_API_TOKEN": "k2", "LM_STUDIO_API_KEY": "k3"},
            "k1",
            "LMSTUDIO_API_KEY",
        ),
        ({"LM_API_TOKEN": "k2", "LM_STUDIO_API_KEY": "k3"}, "k2", "LM_API_TOKEN"),
        ({"LM_STUDIO_API_KEY": "k3"}, "k3", "LM_STUDIO_API_KEY"),
        ({"LMSTUDIO_API_KEY": "", "LM_STUDIO_API_KEY": "k3"}, "k3", "LM_STUDIO_API_KEY"),
        ({}, None, None),
    ],
)
def test_api_key_precedence(env: dict[str, str], key: str | None, source: str | None) -> None:
    cfg = ClientConfig.from_env(env)
    assert (cfg.api_key, cfg.api_key_source) == (key, source)


def test_explicit_arguments_beat_environment() -> None:
    env = {"LMSTUDIO_URL": "http://env:1", "LMSTUDIO_API_KEY": "envkey"}
    cfg = ClientConfig.from_env(
        env, base_url="http://arg:2/v1/", api_key="argkey", timeout=7, connect_timeout=1
    )
    assert (cfg.base_url, cfg.base_url_source) == ("http://arg:2", "argument")
    assert (cfg.api_key, cfg.api_key_source) == ("argkey", "argument")
    assert (cfg.timeout, cfg.connect_timeout) == (7, 1)


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "LMSTUDIO_URL",
        "LMSTUDIO_BASE_URL",
        "LMSTUDIO_API_KEY",
        "LM_API_TOKEN",
        "LM_STUDIO_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LM_STUDIO_API_BASE", "http://localhost:4321/v1")
    monkeypatch.setenv("LM_STUDIO_API_KEY", "dummy")
    cfg = ClientConfig.from_env()
    assert (cfg.base_url, cfg.api_key) == ("http://localhost:4321", "dummy")


def test_bad_env_url_names_the_variable() -> None:
    with pytest.raises(InvalidBaseURL, match="environment variable LMSTUDIO_BASE_URL"):
        ClientConfig.from_env({"LMSTUDIO_BASE_URL": "ws://localhost:1234"})


def test_repr_hides_key() -> None:
    cfg = ClientConfig.from_env({"LM_API_TOKEN": "sk-lm-abcdefgh:abcdefghijklmnopqrst"})
    assert "sk-lm" not in repr(cfg)
    assert "api_key='***'" in repr(cfg)
    assert "api_key=None" in repr(ClientConfig.from_env({}))
