"""The public face: ``from pytest_lmstudio import ...``, lazily, and the documents that describe it."""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_lmstudio
from pytest_lmstudio import errors

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
HEAVY = ("httpx", "openai")


def test_every_public_name_resolves_to_the_object_in_its_home_module() -> None:
    assert len(pytest_lmstudio.__all__) == len(set(pytest_lmstudio.__all__))
    for name in pytest_lmstudio.__all__:
        value = getattr(pytest_lmstudio, name)
        module, _, attribute = pytest_lmstudio._HOMES[name].partition(":")
        assert value is getattr(importlib.import_module(module), attribute or name), name
    assert set(pytest_lmstudio._HOMES) == set(pytest_lmstudio.__all__)
    assert set(pytest_lmstudio.__all__) <= set(dir(pytest_lmstudio))


def test_the_clients_and_every_error_class_are_public() -> None:
    from pytest_lmstudio.client import AsyncLMStudioClient, LMStudioClient

    assert pytest_lmstudio.LMStudioClient is LMStudioClient
    assert pytest_lmstudio.AsyncLMStudioClient is AsyncLMStudioClient
    error_classes = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.LMStudioError)
    }
    assert error_classes <= set(pytest_lmstudio.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        pytest_lmstudio.no_such_thing  # noqa: B018
    with pytest.raises(ImportError):
        exec("from pytest_lmstudio import no_such_thing", {})


def _modules_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_importing_the_package_and_the_plugin_loads_neither_httpx_nor_openai() -> None:
    assert _modules_after("import pytest_lmstudio, pytest_lmstudio.plugin, pytest_lmstudio.client") == set()
    assert _modules_after("from pytest_lmstudio import ChatResult, ModelNotFound, ClientConfig") == set()
    # the probe can see an import: asking for a client loads httpx
    assert "httpx" in _modules_after("from pytest_lmstudio import LMStudioClient")


def test_the_exception_tree_in_the_errors_docstring_matches_the_classes() -> None:
    doc = errors.__doc__ or ""
    drawn: dict[str, set[str]] = {}
    for match in re.finditer(r"^\s+(?:[├└]── )?(\w+)(?:\s+\[(\w+)\])?", doc, re.M):
        name, builtin = match.groups()
        if hasattr(errors, name) and inspect.isclass(getattr(errors, name)):
            drawn[name] = {builtin} if builtin else set()
    actual = {
        name: {base.__name__ for base in value.__bases__ if base.__module__ == "builtins"}
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, errors.LMStudioError)
    }
    actual["LMStudioError"] = set()  # the root: its Exception base goes without saying
    assert drawn == actual


def test_readme_imports_from_pytest_lmstudio_resolve() -> None:
    """Every ``from pytest_lmstudio... import ...`` the README shows works as written."""
    imports = re.findall(r"^from (pytest_lmstudio[\w.]*) import ([\w, ]+)$", README, re.M)
    assert imports, "the README shows no pytest_lmstudio import"
    for module, names in imports:
        for name in (n.strip() for n in names.split(",")):
            assert hasattr(importlib.import_module(module), name), f"from {module} import {name}"
    client_section = README[README.index("## The client") : README.index("## The fake `lms` command")]
    shown = set(re.findall(r"^from (pytest_lmstudio[\w.]*) import", client_section, re.M))
    assert shown == {"pytest_lmstudio"}, "client examples import from the package itself"


def test_every_fixture_is_in_the_readme_table_with_a_type_and_has_a_docstring(
    pytester: pytest.Pytester,
) -> None:
    """A PyPI user finds each fixture twice: in the README's table (with the type to annotate it
    with) and in ``pytest --fixtures`` (issue 15 item 9)."""
    from pytest_lmstudio.plugin import PLUGIN_FIXTURES

    pytester.makepyfile("def test_nothing(): pass")
    listing = pytester.runpytest("--fixtures").stdout.str()
    shown = dict(re.findall(r"^(lmstudio_\w+)(?: \[session scope\])? -- .*\n((?:    .*\n)+)", listing, re.M))
    assert set(shown) == PLUGIN_FIXTURES
    for name, doc in shown.items():
        assert "no docstring" not in doc and len(doc.split()) >= 8, f"{name}: {doc!r}"

    table = README[README.index("| fixture | scope | type |") :].split("\n\n", 1)[0]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    documented = {
        name: row[2] for row in rows for name in re.findall(r"`(lmstudio_\w+)`", row[0].lstrip("| "))
    }
    assert set(documented) == PLUGIN_FIXTURES
    for name, type_ in documented.items():
        assert re.fullmatch(r"`[\w.\[\], ]+`( / `[\w.]+`)?", type_), f"{name}: type {type_!r}"
    for type_ in {t.strip("`") for value in documented.values() for t in value.split(" / ")}:
        if type_.isidentifier() and type_[0].isupper():
            assert type_ in pytest_lmstudio.__all__, f"{type_} is named in the table but not exported"
