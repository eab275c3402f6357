"""LM Studio's model and instance records as the SDK websocket sends them (spec §5.1): the records
``fake_lms.model.info`` builds for ``lms ls --json`` / ``ps --json``, plus the instance reference
the JS SDK addresses an instance by."""

from __future__ import annotations

import hashlib
from typing import Any

from fake_lms.model import info
from fake_lms.model.catalog import ModelSpec
from fake_lms.model.home import Instance


def model_info(spec: ModelSpec) -> dict[str, Any]:
    return info.model_info(spec)


def instance_reference(inst: Instance) -> str:
    """A stable reference for one load of an instance (a new load gets a new reference)."""
    digest = hashlib.sha256(f"{inst.identifier}\x1f{inst.loaded_at!r}".encode()).hexdigest()
    return digest[:24]


def instance_info(spec: ModelSpec, inst: Instance) -> dict[str, Any]:
    record = info.instance_info(spec, inst)
    record["instanceReference"] = instance_reference(inst)
    return record
