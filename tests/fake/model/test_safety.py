"""The fake never writes into a real LM Studio home, cleans up after itself, and never shows a secret."""

from __future__ import annotations

import gc
from pathlib import Path

import httpx
import pytest

from fake_lms import FakeLMStudio
from fake_lms.model.home import Home, UnsafeHome


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "user"
    (home / ".lmstudio" / "models").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.mark.parametrize(
    "relative", [".lmstudio", ".lmstudio/models", ".lmstudio/fake", ".cache/lm-studio/x", "."]
)
def test_real_lmstudio_homes_their_insides_and_their_parents_are_refused(
    user_home: Path, relative: str
) -> None:
    target = user_home / relative
    with pytest.raises(UnsafeHome):
        Home(target)
    assert not (user_home / ".lmstudio" / ".internal").exists()
    assert not (user_home / "server-logs").exists()


def test_the_home_named_by_the_pointer_file_is_refused(user_home: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "lm-elsewhere"
    (user_home / ".lmstudio-home-pointer").write_text(str(elsewhere) + "\n")
    with pytest.raises(UnsafeHome):
        Home(elsewhere / "sub")


def test_a_sibling_directory_is_fine(user_home: Path) -> None:
    Home(user_home / "fake-lmstudio-home")


def test_temporary_homes_are_removed() -> None:
    fake = FakeLMStudio()
    path = fake.home.path
    assert path.exists()
    del fake
    gc.collect()
    assert not path.exists()


def test_credentials_in_unusual_headers_and_query_strings_are_redacted(fake: FakeLMStudio) -> None:
    secret = "sk-lm-abcdefgh:abcdefghijabcdefghij"
    httpx.get(
        fake.base_url + "/models",
        params={"api_key": secret, "page": "1"},
        headers={"X-Goog-Api-Key": secret, "OpenAI-Api-Key": secret, "X-Trace": "visible"},
    )
    record = fake.requests[-1]
    assert secret not in repr(record.to_dict())
    assert record.query["page"] == "1" and record.headers["x-trace"] == "visible"
