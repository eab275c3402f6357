"""The model catalog: every model the fake LM Studio can download, with LM Studio's metadata.

A catalog is an ordered mapping of model key -> :class:`ModelSpec`. The default one mirrors what a
fresh LM Studio shows (a few hub models plus the bundled Nomic embedding model). Users may pass
their own as Python objects or as a JSON/TOML file (see :meth:`Catalog.load`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, cast

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ModelType = Literal["llm", "embedding"]


class CatalogError(ValueError):
    """A catalog file or entry is not valid; the message says which field and why."""


@dataclass(frozen=True)
class ModelSpec:
    """One downloadable model, described the way LM Studio's APIs describe it."""

    key: str
    type: ModelType = "llm"
    display_name: str = ""
    publisher: str = ""
    architecture: str | None = None
    quantization: str = "Q4_K_M"
    bits_per_weight: int = 4
    size_bytes: int = 1_000_000_000
    params_string: str | None = None
    max_context_length: int = 32768
    format: Literal["gguf", "mlx"] = "gguf"
    path: str = ""
    vision: bool = False
    trained_for_tool_use: bool = False
    reasoning: tuple[str, ...] = ()  # allowed reasoning options; empty = not a reasoning model
    reasoning_default: str | None = None
    embedding_dimensions: int = 768
    default_context_length: int = 4096
    downloaded: bool = True  # downloaded when a fresh fake home is created
    description: str | None = None
    extra_variants: tuple[str, ...] = field(default=())  # other quantizations `lms get key@q` accepts

    def __post_init__(self) -> None:
        if not self.key or self.key != self.key.strip():
            raise CatalogError(f"model key {self.key!r} must be a non-empty string without spaces around it")
        if self.type not in ("llm", "embedding"):
            raise CatalogError(f"model {self.key!r}: type must be 'llm' or 'embedding', not {self.type!r}")
        if self.format not in ("gguf", "mlx"):
            raise CatalogError(f"model {self.key!r}: format must be 'gguf' or 'mlx', not {self.format!r}")
        for name in ("size_bytes", "max_context_length", "embedding_dimensions", "default_context_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise CatalogError(f"model {self.key!r}: {name} must be a positive integer, not {value!r}")
        # fill derived defaults (frozen dataclass: use object.__setattr__)
        if not self.publisher:
            object.__setattr__(self, "publisher", self.key.split("/")[0] if "/" in self.key else "local")
        if not self.display_name:
            object.__setattr__(self, "display_name", self.key.split("/")[-1])
        if not self.path:
            object.__setattr__(self, "path", self.key)
        object.__setattr__(self, "reasoning", tuple(self.reasoning))
        object.__setattr__(self, "extra_variants", tuple(q.lower() for q in self.extra_variants))

    @classmethod
    def plausible(cls, name: str, **fields: Any) -> ModelSpec:
        """A spec for a model the catalog lacks, from its name alone: an embedding model when the
        name says so (``embed``, ``bge``, ``e5-``, ``gte-``, ``minilm``), vision for ``-vl`` /
        ``vision`` / ``llava``, reasoning for ``qwen3``, ``deepseek-r1``, ``gpt-oss``, ``magistral``
        and ``-thinking``; the size from a ``7b``-style parameter count. ``fields`` override."""
        key = name.strip().split("@", 1)[0]
        lowered = key.lower()
        base = lowered.rsplit("/", 1)[-1]
        spec: dict[str, Any] = {"key": key}
        if any(word in base for word in ("embed", "bge-", "bge_", "e5-", "gte-", "minilm", "nomic-bert")):
            spec.update(
                type="embedding", architecture="bert", max_context_length=2048, default_context_length=2048
            )
        else:
            if any(
                word in base for word in ("-vl", "vision", "llava", "pixtral", "gemma-3-4b", "gemma-3-12b")
            ):
                spec["vision"] = True
            if "gpt-oss" in base:
                spec.update(
                    reasoning=("low", "medium", "high"), reasoning_default="medium", architecture="gpt-oss"
                )
            elif any(word in base for word in ("qwen3", "deepseek-r1", "magistral", "thinking", "qwq")):
                spec.update(reasoning=("off", "on"), reasoning_default="on")
            spec["trained_for_tool_use"] = True
        params = re.search(r"(\d+(?:\.\d+)?)b\b", base)
        if params:
            billions = float(params.group(1))
            spec["params_string"] = f"{params.group(1)}B"
            spec["size_bytes"] = max(1, int(billions * 0.6e9))  # about Q4_K_M
        spec.update(fields)
        return cls.from_dict(spec)

    # -- derived views -------------------------------------------------------------------------
    @property
    def is_embedding(self) -> bool:
        return self.type == "embedding"

    @property
    def v0_type(self) -> str:
        """``type`` in ``/api/v0/models``: llm | vlm | embeddings (plural)."""
        if self.is_embedding:
            return "embeddings"
        return "vlm" if self.vision else "llm"

    @property
    def lms_format(self) -> str:
        """``format`` in ``lms ls --json``: MLX models report ``safetensors``."""
        return "safetensors" if self.format == "mlx" else "gguf"

    @property
    def variant_key(self) -> str:
        return f"{self.key}@{self.quantization.lower()}"

    @property
    def variants(self) -> list[str]:
        quants = [
            self.quantization.lower(),
            *[q for q in self.extra_variants if q != self.quantization.lower()],
        ]
        return [f"{self.key}@{q}" for q in quants]

    @property
    def file_name(self) -> str:
        """Name of the (placeholder) weights file inside the model's directory."""
        if self.path.endswith(".gguf"):
            return self.path.rsplit("/", 1)[-1]
        stem = self.key.split("/")[-1]
        return f"{stem}-{self.quantization}.gguf" if self.format == "gguf" else "model.safetensors"

    @property
    def relative_dir(self) -> str:
        """Directory under ``<home>/models`` that holds the model (``publisher/repo``)."""
        if self.path.endswith(".gguf"):
            return self.path.rsplit("/", 1)[0]
        return self.path if "/" in self.path else f"{self.publisher}/{self.path}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasoning"] = list(self.reasoning)
        data["extra_variants"] = list(self.extra_variants)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        if not isinstance(data, Mapping):
            raise CatalogError(f"a catalog entry must be an object, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CatalogError(
                f"model {data.get('key', '?')!r}: unknown field(s) {', '.join(unknown)}; "
                f"known fields are {', '.join(sorted(known))}"
            )
        if "key" not in data:
            raise CatalogError("every catalog entry needs a 'key' (e.g. 'qwen/qwen3-4b')")
        values = dict(data)
        for tup in ("reasoning", "extra_variants"):
            if tup in values:
                values[tup] = tuple(values[tup])
        try:
            return cls(**values)
        except TypeError as exc:  # pragma: no cover - guarded by the unknown-field check
            raise CatalogError(str(exc)) from None


DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        key="qwen/qwen3-4b",
        display_name="Qwen3 4B",
        publisher="qwen",
        architecture="qwen3",
        quantization="Q4_K_M",
        bits_per_weight=4,
        size_bytes=2_497_280_256,
        params_string="4B",
        max_context_length=40960,
        trained_for_tool_use=True,
        reasoning=("off", "on"),
        reasoning_default="on",
        extra_variants=("q8_0",),
    ),
    ModelSpec(
        key="google/gemma-3-1b",
        display_name="Gemma 3 1B",
        publisher="google",
        architecture="gemma3",
        quantization="Q4_K_M",
        bits_per_weight=4,
        size_bytes=806_058_496,
        params_string="1B",
        max_context_length=32768,
    ),
    ModelSpec(
        key="text-embedding-nomic-embed-text-v1.5",
        type="embedding",
        display_name="Nomic Embed Text v1.5",
        publisher="nomic-ai",
        architecture="nomic-bert",
        quantization="Q4_K_M",
        bits_per_weight=4,
        size_bytes=84_106_624,
        max_context_length=2048,
        path="nomic-ai/nomic-embed-text-v1.5-GGUF/nomic-embed-text-v1.5.Q4_K_M.gguf",
        embedding_dimensions=768,
        default_context_length=2048,
    ),
    ModelSpec(
        key="openai/gpt-oss-20b",
        display_name="gpt-oss 20B",
        publisher="openai",
        architecture="gpt-oss",
        quantization="MXFP4",
        bits_per_weight=4,
        size_bytes=12_109_565_632,
        params_string="20B",
        max_context_length=131072,
        trained_for_tool_use=True,
        reasoning=("low", "medium", "high"),
        reasoning_default="medium",
        downloaded=False,
    ),
    ModelSpec(
        key="qwen/qwen2.5-vl-7b",
        display_name="Qwen2.5 VL 7B",
        publisher="qwen",
        architecture="qwen2vl",
        quantization="Q4_K_M",
        bits_per_weight=4,
        size_bytes=6_012_478_464,
        params_string="7B",
        max_context_length=128000,
        vision=True,
        downloaded=False,
    ),
    ModelSpec(
        key="text-embedding-qwen3-embedding-0.6b",
        type="embedding",
        display_name="Qwen3 Embedding 0.6B",
        publisher="qwen",
        architecture="qwen3",
        quantization="Q8_0",
        bits_per_weight=8,
        size_bytes=639_150_592,
        params_string="0.6B",
        max_context_length=32768,
        path="Qwen/Qwen3-Embedding-0.6B-GGUF/Qwen3-Embedding-0.6B-Q8_0.gguf",
        embedding_dimensions=1024,
        downloaded=False,
    ),
)


class Catalog:
    """An ordered, immutable set of :class:`ModelSpec` keyed by model key."""

    def __init__(self, models: Iterable[ModelSpec | Mapping[str, Any]] = DEFAULT_MODELS) -> None:
        specs: dict[str, ModelSpec] = {}
        for item in models:
            spec = item if isinstance(item, ModelSpec) else ModelSpec.from_dict(item)
            if spec.key in specs:
                raise CatalogError(f"model key {spec.key!r} appears twice in the catalog")
            specs[spec.key] = spec
        self._specs = specs
        self._lower = {key.lower(): spec for key, spec in specs.items()}

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def default(cls) -> Catalog:
        return cls(DEFAULT_MODELS)

    @classmethod
    def load(cls, source: str | os.PathLike[str]) -> Catalog:
        """Read a catalog file: JSON (a list, or ``{"models": [...]}``) or TOML (``[[models]]``)."""
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"cannot read catalog file {path}: {exc.strerror or exc}") from None
        try:
            if path.suffix.lower() == ".toml":
                data: Any = tomllib.loads(text)
            else:
                data = json.loads(text)
        except (ValueError, tomllib.TOMLDecodeError) as exc:
            raise CatalogError(f"catalog file {path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}")
        return cls.from_data(data, origin=str(path))

    @classmethod
    def from_data(cls, data: Any, origin: str = "catalog") -> Catalog:
        models = data.get("models") if isinstance(data, Mapping) else data
        if not isinstance(models, list):
            raise CatalogError(f"{origin}: expected a list of models or an object with a 'models' list")
        try:
            return cls(models)
        except CatalogError as exc:
            raise CatalogError(f"{origin}: {exc}") from None

    @classmethod
    def coerce(cls, value: Catalog | str | os.PathLike[str] | Iterable[Any] | None) -> Catalog:
        if value is None:
            return cls.default()
        if isinstance(value, Catalog):
            return value
        if isinstance(value, (str, os.PathLike)):
            return cls.load(value)
        return cls(cast("Iterable[ModelSpec | Mapping[str, Any]]", value))

    def to_data(self) -> dict[str, Any]:
        return {"models": [spec.to_dict() for spec in self._specs.values()]}

    # -- lookup --------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.find(key) is not None

    def keys(self) -> list[str]:
        return list(self._specs)

    def get(self, key: str) -> ModelSpec | None:
        return self._specs.get(key)

    def find(self, name: str) -> ModelSpec | None:
        """Resolve a model key or variant key (``key@q4_k_m``), case-insensitively."""
        spec = self._specs.get(name) or self._lower.get(name.lower())
        if spec is not None:
            return spec
        if "@" in name:
            base, _, quant = name.rpartition("@")
            spec = self._lower.get(base.lower())
            if spec is not None and f"{spec.key}@{quant.lower()}" in spec.variants:
                return spec
        return None

    def with_model(self, spec: ModelSpec) -> Catalog:
        """This catalog with ``spec`` added (or replacing the model of the same key)."""
        return Catalog([*(s for s in self if s.key != spec.key), spec])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Catalog) and self.to_data() == other.to_data()

    def __repr__(self) -> str:
        return f"Catalog({', '.join(self._specs)})"
