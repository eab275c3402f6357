"""What a reasoning model does with a request's reasoning setting, LM Studio 0.4.x's way.

A reasoning model reasons by default: its default setting applies when a request names none
(fidelity review §2 row 7: qwen3, deepseek-r1, magistral answer with ``reasoning_content``,
gpt-oss with ``reasoning``, unasked). A setting the model offers is used. A setting it does not
offer is not refused on the OpenAI-compatible endpoints or the SDK: LM Studio falls back to the
model's default and says so in its server log (lmstudio-python#182, bug-tracker #2284)::

    [WARN] Reasoning setting 'medium' is not supported by model 'qwen/qwen3.5-9b'. Supported
    settings: 'on', 'off'. Falling back to reasoning setting 'on'.

``/api/v1/chat`` refuses such a setting instead (``fake_lms.api.native_v1``). A model without
reasoning ignores every setting.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fake_lms.model.catalog import ModelSpec

START_TAG = "<think>"  # the reasoning block's tags as an SDK prediction's fragments carry them
END_TAG = "</think>"


@dataclass(frozen=True)
class Choice:
    """The reasoning a request gets: whether the model reasons, under which setting, and the
    server-log warning a fallback writes (``None``: none)."""

    on: bool
    setting: str | None = None
    warning: str | None = None


def default_setting(spec: ModelSpec) -> str | None:
    """The model's default reasoning setting (``None`` for a model without reasoning)."""
    if not spec.reasoning:
        return None
    return spec.reasoning_default or spec.reasoning[0]


def reasons_by_default(spec: ModelSpec) -> bool:
    return default_setting(spec) not in (None, "off")


def choose(spec: ModelSpec, requested: object = None) -> Choice:
    """The reasoning for a request that asked for ``requested`` (``None``: nothing asked)."""
    default = default_setting(spec)
    if default is None:
        return Choice(False)
    if requested is None:
        return Choice(default != "off", default)
    if isinstance(requested, str) and requested in spec.reasoning:
        return Choice(requested != "off", requested)
    shown = requested if isinstance(requested, str) else json.dumps(requested)
    supported = ", ".join(f"'{option}'" for option in spec.reasoning)
    warning = (
        f"Reasoning setting '{shown}' is not supported by model '{spec.key}'. "
        f"Supported settings: {supported}. Falling back to reasoning setting '{default}'."
    )
    return Choice(default != "off", default, warning)
