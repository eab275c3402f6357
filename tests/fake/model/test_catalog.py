from __future__ import annotations

import json
from pathlib import Path

import pytest

from fake_lms import Catalog, CatalogError, FakeLMStudio, ModelSpec


def test_default_catalog_has_the_documented_models() -> None:
    cat = Catalog.default()
    qwen = cat.get("qwen/qwen3-4b")
    assert qwen is not None and qwen.trained_for_tool_use and qwen.type == "llm" and qwen.downloaded
    gemma = cat.get("google/gemma-3-1b")
    assert gemma is not None and gemma.type == "llm" and gemma.downloaded
    nomic = cat.get("text-embedding-nomic-embed-text-v1.5")
    assert nomic is not None and nomic.type == "embedding" and nomic.embedding_dimensions == 768
    assert nomic.v0_type == "embeddings"
    oss = cat.get("openai/gpt-oss-20b")
    assert oss is not None and not oss.downloaded
    for spec in cat:
        assert spec.publisher and spec.architecture and spec.quantization and spec.size_bytes > 1_000_000
        assert spec.max_context_length >= 2048


def test_find_accepts_variant_keys_case_insensitively() -> None:
    cat = Catalog.default()
    assert cat.find("QWEN/Qwen3-4B").key == "qwen/qwen3-4b"
    assert cat.find("qwen/qwen3-4b@q4_k_m").key == "qwen/qwen3-4b"
    assert cat.find("qwen/qwen3-4b@q8_0").key == "qwen/qwen3-4b"
    assert cat.find("qwen/qwen3-4b@q2_k") is None
    assert cat.find("nope") is None


def test_json_and_toml_files(tmp_path: Path) -> None:
    (tmp_path / "c.json").write_text(json.dumps({"models": [{"key": "a/b", "size_bytes": 10}]}))
    (tmp_path / "c.toml").write_text('[[models]]\nkey = "a/b"\nsize_bytes = 10\n')
    assert Catalog.load(tmp_path / "c.json") == Catalog.load(tmp_path / "c.toml")
    assert Catalog.load(tmp_path / "c.json").get("a/b").publisher == "a"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([{"key": "a", "type": "vlm"}], "type must be 'llm' or 'embedding'"),
        ([{"key": "a", "size_bytes": -1}], "size_bytes must be a positive integer"),
        ([{"key": "a"}, {"key": "a"}], "appears twice"),
        ([{"name": "a"}], "unknown field(s) name"),
        ([{}], "needs a 'key'"),
        ({"model": []}, "expected a list of models"),
        ([3], "must be an object"),
    ],
)
def test_bad_catalogs_say_what_is_wrong(data: object, message: str) -> None:
    with pytest.raises(CatalogError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Catalog.from_data(data)


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read catalog file"):
        Catalog.load(tmp_path / "missing.json")
    (tmp_path / "bad.toml").write_text("[[models]\n")
    with pytest.raises(CatalogError, match="not valid toml"):
        Catalog.load(tmp_path / "bad.toml")


def test_python_objects_catalog_served() -> None:
    import httpx

    models = [ModelSpec(key="me/mine", architecture="llama"), {"key": "me/vec", "type": "embedding"}]
    with FakeLMStudio(catalog=models) as fake:
        ids = [m["id"] for m in httpx.get(fake.base_url + "/models").json()["data"]]
    assert ids == ["me/mine", "me/vec"]
