"""Scripted MCP tools through the plugin's fixtures (issue 14 item 6): ``lmstudio_fake`` (an
unused tool fails the test at teardown, as every unused rule does) and ``lmstudio_control`` (the
run's shared fake process, scripted over its control API). Sources: docs ``0_core/mcp.mdx``
(tool_call items of an ephemeral server), ``0_server/settings.md`` (the opt-in setting)."""

from __future__ import annotations

import pytest

APP = """
import httpx


def ask(base_url, question):
    body = httpx.post(
        base_url + "/api/v1/chat",
        json={
            "model": "google/gemma-3-1b",
            "input": question,
            "integrations": [
                {"type": "ephemeral_mcp", "server_label": "huggingface",
                 "server_url": "https://huggingface.co/mcp", "allowed_tools": ["model_search"]}
            ],
        },
        timeout=30,
    ).json()
    return [item["type"] for item in body["output"]], body["output"][0]
"""


def test_lmstudio_fake_scripts_mcp_tools_and_reports_unused_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        app=APP,
        test_mcp="""
        from app import ask


        def test_called(lmstudio_fake):
            lmstudio_fake.configure(allow_per_request_mcps=True)
            lmstudio_fake.mcp_tool("huggingface", "model_search", {"limit": 1}, output="hits")
            kinds, first = ask(lmstudio_fake.url, "top model?")
            assert kinds == ["tool_call", "message"] and first["output"] == "hits"


        def test_setting_restored_for_the_next_test(lmstudio_fake):
            assert lmstudio_fake.settings.allow_per_request_mcps is False


        def test_never_called(lmstudio_fake):
            lmstudio_fake.mcp_tool("huggingface", "hub_repo_details")
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=3, errors=1)  # the unused rule errors at teardown
    result.stdout.fnmatch_lines(
        ["*1 scripted rule(s) never acted*", "*mcp call huggingface:hub_repo_details*"]
    )


def test_lmstudio_control_scripts_mcp_tools_on_the_shared_fake(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        app=APP,
        test_mcp="""
        from app import ask


        def test_called(lmstudio_control, lmstudio_server):
            lmstudio_control.configure(allow_per_request_mcps=True)
            lmstudio_control.mcp_tool("huggingface", "model_search", output="shared hits", match="mine")
            kinds, first = ask(lmstudio_server.url, "mine: top model?")
            assert kinds == ["tool_call", "message"] and first["output"] == "shared hits"
            assert first["provider_info"] == {"server_label": "huggingface", "type": "ephemeral_mcp"}


        def test_server_undeclared_after_its_test(lmstudio_control, lmstudio_server):
            # the first test's rule was cancelled: its server is no longer declared, so unreachable
            import pytest

            with pytest.raises(KeyError):
                ask(lmstudio_server.url, "mine: again")
            assert lmstudio_control.requests[-1].status == 400
            assert [r for r in lmstudio_control.rules if r["active"]] == []
        """,
    )
    pytester.runpytest_subprocess("--lmstudio-mode=fake", "-p", "no:randomly").assert_outcomes(passed=2)
