# ruff: noqa: F811  (pytest fixtures imported from test_cli_support)
"""`lms ls`, `lms ps`, `lms load`, `lms unload` (issue 4): exact output, exit codes, and state shared
with the HTTP APIs through the home."""

from __future__ import annotations

import json

import pytest
from test_cli_support import Lms, home, http_json, lms, server  # noqa: F401  (fixtures)

from fake_lms.model.home import Home

LS_TEXT = (
    "\n"
    "You have 3 models, taking up 3.39 GB of disk space.\n"
    "\n"
    "LLM                              PARAMS    ARCH      SIZE         DEVICE    \n"
    "google/gemma-3-1b (1 variant)    1B        gemma3    806.06 MB    Local     \n"
    "qwen/qwen3-4b (1 variant)        4B        qwen3     2.50 GB      Local     \n"
    "\n"
    "EMBEDDING                               PARAMS    ARCH          SIZE        DEVICE    \n"
    "text-embedding-nomic-embed-text-v1.5              Nomic BERT    84.11 MB    Local     \n"
    "\n"
)

QWEN_INFO = {
    "type": "llm",
    "modelKey": "qwen/qwen3-4b",
    "format": "gguf",
    "displayName": "Qwen3 4B",
    "publisher": "qwen",
    "path": "qwen/qwen3-4b",
    "sizeBytes": 2497280256,
    "indexedModelIdentifier": "qwen/qwen3-4b",
    "deviceIdentifier": None,
    "paramsString": "4B",
    "architecture": "qwen3",
    "quantization": {"name": "Q4_K_M", "bits": 4},
    "variants": ["qwen/qwen3-4b@q4_k_m"],
    "selectedVariant": "qwen/qwen3-4b@q4_k_m",
    "vision": False,
    "trainedForToolUse": True,
    "maxContextLength": 40960,
}

NOMIC_INFO = {
    "type": "embedding",
    "modelKey": "text-embedding-nomic-embed-text-v1.5",
    "format": "gguf",
    "displayName": "Nomic Embed Text v1.5",
    "publisher": "nomic-ai",
    "path": "nomic-ai/nomic-embed-text-v1.5-GGUF/nomic-embed-text-v1.5.Q4_K_M.gguf",
    "sizeBytes": 84106624,
    "indexedModelIdentifier": "nomic-ai/nomic-embed-text-v1.5-GGUF/nomic-embed-text-v1.5.Q4_K_M.gguf",
    "deviceIdentifier": None,
    "architecture": "nomic-bert",
    "quantization": {"name": "Q4_K_M", "bits": 4},
    "maxContextLength": 2048,
}


def loaded_success(identifier: str, size: str) -> str:
    return (
        rf"Model loaded successfully in \d+\.\d\dms\.\n\({size}\)\n"
        rf'To use the model in the API/SDK, use the identifier "{identifier}"\.\n'
    )


# -- ls --------------------------------------------------------------------------------------------


def test_ls_text_table(lms: Lms) -> None:
    result = lms.run("ls")
    assert (result.code, result.stdout, result.stderr) == (0, LS_TEXT, "")


def test_ls_json_shapes_and_field_order(lms: Lms) -> None:
    result = lms.run("ls", "--json")
    assert result.code == 0 and result.stderr == ""
    assert result.stdout.count("\n") == 1  # one line
    models = json.loads(result.stdout)
    assert [m["modelKey"] for m in models] == ["qwen/qwen3-4b", "google/gemma-3-1b", NOMIC_INFO["modelKey"]]
    assert list(models[0].items()) == list(QWEN_INFO.items())
    assert list(models[2].items()) == list(NOMIC_INFO.items())


def test_ls_filters(lms: Lms) -> None:
    assert [m["type"] for m in lms.json("ls", "--json", "--llm")] == ["llm", "llm"]
    assert [m["modelKey"] for m in lms.json("ls", "--json", "--embedding")] == [NOMIC_INFO["modelKey"]]
    assert len(lms.json("ls", "--json", "--llm", "--embedding")) == 3
    text = lms.run("ls", "--embedding").stdout
    assert text.startswith("\nYou have 1 models, taking up 84.11 MB of disk space.\n\nEMBEDDING ")
    assert "LLM" not in text


def test_ls_nothing_matches_and_nothing_downloaded(lms: Lms, home: Home) -> None:
    home.remove_download(NOMIC_INFO["modelKey"])
    result = lms.run("ls", "--embedding")
    assert (result.code, result.stdout, result.stderr) == (
        0,
        "You have 2 models, but none of them match the filter.\n",
        "",
    )
    home.remove_download("qwen/qwen3-4b")
    home.remove_download("google/gemma-3-1b")
    result = lms.run("ls")
    assert (result.code, result.stdout) == (0, "You have not downloaded any models yet.\n")
    assert lms.json("ls", "--json") == []


def test_ls_model_key_lists_its_variants(lms: Lms) -> None:
    variants = lms.json("ls", "qwen/qwen3-4b", "--json")
    assert [v["modelKey"] for v in variants] == ["qwen/qwen3-4b@q4_k_m"]
    assert variants[0]["path"] == "qwen/qwen3-4b/qwen3-4b-Q4_K_M.gguf"
    result = lms.run("ls", "qwen/qwen3-4b")
    assert result.stdout == (
        "\nListing variants for qwen/qwen3-4b:\n\n"
        "LLM                     PARAMS    ARCH     SIZE       DEVICE    \n"
        "qwen/qwen3-4b@q4_k_m    4B        qwen3    2.50 GB    Local     \n\n"
    )


def test_ls_variants_rows_and_json_groups(lms: Lms) -> None:
    assert lms.run("ls", "--variants", "--llm").stdout == (
        "\n"
        "You have 2 models, taking up 3.30 GB of disk space.\n"
        "\n"
        "LLM                              PARAMS    ARCH      SIZE         DEVICE    \n"
        "google/gemma-3-1b (1 variant)                                               \n"
        " * google/gemma-3-1b@q4_k_m      1B        gemma3    806.06 MB    Local     \n"
        "qwen/qwen3-4b (1 variant)                                                   \n"
        " * qwen/qwen3-4b@q4_k_m          4B        qwen3     2.50 GB      Local     \n"
        "\n"
    )
    groups = lms.json("ls", "--json", "--variants")
    assert [g["model"]["modelKey"] for g in groups] == ["qwen/qwen3-4b", "google/gemma-3-1b"]
    assert groups[0]["variants"][0]["modelKey"] == "qwen/qwen3-4b@q4_k_m"


def test_ls_key_with_variants_is_an_error(lms: Lms) -> None:
    result = lms.run("ls", "qwen/qwen3-4b", "--variants")
    assert (result.code, result.stdout, result.stderr) == (
        1,
        "",
        "Error: Cannot combine a model key argument with --variants.\n",
    )


def test_ls_detailed_is_deprecated(lms: Lms) -> None:
    result = lms.run("ls", "--detailed")
    assert (result.code, result.stdout) == (0, LS_TEXT)
    assert result.stderr == "W The '--detailed' flag is deprecated. Output is the same as 'lms ls'\n"


def test_ls_marks_loaded_models(lms: Lms, home: Home) -> None:
    home.load("qwen/qwen3-4b")
    home.load("qwen/qwen3-4b")
    home.load("google/gemma-3-1b")
    lines = lms.run("ls", "--llm").stdout.splitlines()
    assert (
        lines[4] == "google/gemma-3-1b (1 variant)    1B        gemma3    806.06 MB    Local     ✓ LOADED    "
    )
    assert (
        lines[5] == "qwen/qwen3-4b (1 variant)        4B        qwen3     2.50 GB      Local     ✓ LOADED (2)"
    )


# -- ps --------------------------------------------------------------------------------------------


def test_ps_nothing_loaded(lms: Lms) -> None:
    result = lms.run("ps")
    assert (result.code, result.stdout) == (0, "")
    assert (
        result.stderr
        == "No models are currently loaded.\n\nTo load a model, run:\n\n    lms load <model path>\n"
    )
    assert lms.run("ps", "--json").stdout == "[]\n"


def test_ps_table(lms: Lms, home: Home) -> None:
    home.load("qwen/qwen3-4b", ttl_seconds=3600, context_length=8192)
    home.load(NOMIC_INFO["modelKey"])
    home.load("google/gemma-3-1b", identifier="alpha")
    result = lms.run("ps")
    assert result.code == 0 and result.stderr == ""
    nomic = "text-embedding-nomic-embed-text-v1.5"
    rest = "    4096       4           Local             "
    assert result.stdout == (
        "\n"
        f"{'IDENTIFIER':<40}{'MODEL':<40}STATUS    SIZE         CONTEXT    PARALLEL    DEVICE    TTL     \n"
        f"{'alpha':<40}{'google/gemma-3-1b':<40}IDLE      806.06 MB{rest}\n"
        f"{'qwen/qwen3-4b':<40}{'qwen/qwen3-4b':<40}IDLE      2.50 GB      8192       4           Local     "
        "60m / 1h\n"
        f"{nomic:<40}{nomic:<40}IDLE      84.11 MB     2048       -           Local             \n"
        "\n"
    )


def test_ps_json(lms: Lms, home: Home) -> None:
    home.load("qwen/qwen3-4b", ttl_seconds=600)
    home.load(NOMIC_INFO["modelKey"])
    llm, embedding = lms.json("ps", "--json")
    expected_llm = {
        **{
            k: v for k, v in QWEN_INFO.items() if k not in ("vision", "trainedForToolUse", "maxContextLength")
        },
        "identifier": "qwen/qwen3-4b",
        "ttlMs": 600000,
        "lastUsedTime": llm["lastUsedTime"],
        "vision": False,
        "trainedForToolUse": True,
        "maxContextLength": 40960,
        "contextLength": 4096,
        "status": "idle",
        "queued": 0,
        "parallel": 4,
    }
    assert list(llm.items()) == list(expected_llm.items())
    assert isinstance(llm["lastUsedTime"], int)
    assert embedding["identifier"] == NOMIC_INFO["modelKey"]
    assert (embedding["ttlMs"], embedding["parallel"], embedding["contextLength"]) == (None, None, 2048)
    assert "vision" not in embedding


# -- load ------------------------------------------------------------------------------------------


def test_load_with_yes(lms: Lms, home: Home) -> None:
    result = lms.run("load", "qwen/qwen3-4b", "--yes")
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr.count("\n") == 3
    assert __import__("re").fullmatch(loaded_success("qwen/qwen3-4b", "2.33 GiB"), result.stderr)
    (inst,) = home.instances()
    assert (inst.identifier, inst.model_key, inst.ttl_seconds) == ("qwen/qwen3-4b", "qwen/qwen3-4b", None)


def test_load_without_yes_and_without_a_terminal_acts_like_yes(lms: Lms, home: Home) -> None:
    result = lms.run("load", "gemma")  # fuzzy
    assert (result.code, result.stdout) == (0, "\n")  # real lms prints a blank line before choosing
    assert result.stderr.endswith(
        'To use the model in the API/SDK, use the identifier "google/gemma-3-1b".\n'
    )
    assert [i.model_key for i in home.instances()] == ["google/gemma-3-1b"]


def test_load_options_reach_the_instance(lms: Lms, home: Home) -> None:
    result = lms.run(
        "load",
        "qwen/qwen3-4b",
        "-y",
        "--identifier",
        "my-model",
        "--ttl",
        "300",
        "-c",
        "8192",
        "--parallel",
        "2",
    )
    assert result.code == 0, result
    assert result.stderr.endswith('use the identifier "my-model".\n')
    (inst,) = home.instances()
    assert (inst.identifier, inst.ttl_seconds, inst.context_length) == ("my-model", 300, 8192)
    (info,) = lms.json("ps", "--json")
    assert (info["identifier"], info["ttlMs"], info["contextLength"], info["parallel"]) == (
        "my-model",
        300000,
        8192,
        2,
    )


def test_loading_twice_numbers_the_identifier(lms: Lms, home: Home) -> None:
    lms.run("load", "qwen/qwen3-4b", "-y")
    result = lms.run("load", "qwen/qwen3-4b", "-y")
    assert result.stderr.endswith('use the identifier "qwen/qwen3-4b:2".\n')
    assert sorted(i.identifier for i in home.instances()) == ["qwen/qwen3-4b", "qwen/qwen3-4b:2"]


def test_load_identifier_in_use_fails(lms: Lms, home: Home) -> None:
    home.load("qwen/qwen3-4b", identifier="taken")
    result = lms.run("load", "gemma", "-y", "--identifier", "taken")
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == 'Error: A model with the identifier "taken" is already loaded.\n'


def test_load_unknown_model(lms: Lms, home: Home) -> None:
    result = lms.run("load", "no-such-model", "--yes")
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == (
        "Model not found\n\n"
        'No model found that matches model key "no-such-model".\n\n'
        "To see a list of all downloaded models, run:\n\n    lms ls\n\n"
        "To select a model interactively, remove the --yes flag:\n\n    lms load\n"
    )
    assert home.instances() == []


def test_load_only_considers_downloaded_models(lms: Lms) -> None:
    result = lms.run("load", "openai/gpt-oss-20b", "--yes")  # in the catalog, not downloaded
    assert result.code == 1
    assert result.stderr.startswith("Model not found\n")


def test_load_ambiguous_key_warns_and_loads_the_best_match(lms: Lms, home: Home) -> None:
    result = lms.run("load", "e", "--yes")
    assert result.code == 0
    assert result.stderr.startswith(
        "W 3 models match the provided model key on the same device. Loading the first one.\n"
    )
    assert len(home.instances()) == 1


def test_load_prefers_recently_loaded_models(lms: Lms, home: Home) -> None:
    lms.run("load", "google/gemma-3-1b", "-y")
    lms.run("unload", "--all")
    lms.run("load", "-y")  # no key: everything matches, the most recently loaded first
    assert [i.model_key for i in home.instances()] == ["google/gemma-3-1b"]
    pref = json.loads((home.internal / "cli-pref.json").read_text())
    assert pref["lastLoadedModels"][0] == "google/gemma-3-1b"


def test_load_exact_path(lms: Lms, home: Home) -> None:
    result = lms.run("load", "--exact", NOMIC_INFO["path"])
    assert result.code == 0, result
    assert [i.model_key for i in home.instances()] == [NOMIC_INFO["modelKey"]]
    result = lms.run("load", "--exact", "qwen")
    assert result.code == 1
    assert result.stderr == (
        "Model not found\n\n"
        'No model found with path being exactly "qwen".\n\n'
        "To disable exact matching, remove the --exact flag.\n\n"
        "To see a list of all downloaded models, run:\n\n    lms ls\n\n"
        "Note, you need to provide the full model path. For example:\n\n  lms load --exact qwen/qwen3-4b\n"
    )


def test_load_estimate_only_does_not_load(lms: Lms, home: Home) -> None:
    result = lms.run("load", "qwen/qwen3-4b", "-y", "--estimate-only", "-c", "4096", "--gpu", "0.5")
    assert result.code == 0 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[:3] == ["Model: qwen/qwen3-4b", "Context Length: 4,096", "GPU Offload: 50%"]
    assert lines[3].startswith("Estimated GPU Memory:   ") and lines[4].startswith("Estimated Total Memory: ")
    assert lines[-2:] == [
        "",
        "Estimate: This model may be loaded based on your resource guardrails settings.",
    ]
    assert home.instances() == []


def test_load_is_visible_over_http_and_vice_versa(lms: Lms, home: Home, server) -> None:
    assert lms.run("load", "google/gemma-3-1b", "-y").code == 0
    states = {m["id"]: m["state"] for m in http_json(server.url + "/api/v0/models")["data"]}
    assert states["google/gemma-3-1b"] == "loaded"
    assert states["qwen/qwen3-4b"] == "not-loaded"
    server.home.load("qwen/qwen3-4b", identifier="from-http")  # what the server loads, lms ps shows
    assert sorted(i["identifier"] for i in lms.json("ps", "--json")) == ["from-http", "google/gemma-3-1b"]
    assert lms.run("unload", "google/gemma-3-1b").code == 0
    states = {m["id"]: m["state"] for m in http_json(server.url + "/api/v0/models")["data"]}
    assert states["google/gemma-3-1b"] == "not-loaded"


def test_load_and_ls_work_with_port_of_a_running_server(lms: Lms, server) -> None:
    port = str(server.port)
    assert lms.run("load", "gemma", "-y", "--port", port).code == 0
    assert [m["identifier"] for m in lms.json("ps", "--json", "--host", "127.0.0.1", "--port", port)] == [
        "google/gemma-3-1b"
    ]


# -- unload ----------------------------------------------------------------------------------------


def test_unload_by_identifier(lms: Lms, home: Home) -> None:
    home.load("qwen/qwen3-4b", identifier="mine")
    result = lms.run("unload", "mine")
    assert (result.code, result.stdout, result.stderr) == (0, "", 'Model "mine" unloaded.\n')
    assert home.instances() == []


def test_unload_unknown_identifier_exits_zero(lms: Lms) -> None:
    result = lms.run("unload", "nope")
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr == (
        'Model Not Found\n\nCannot find a model with the identifier "nope".\n\n'
        "To see a list of loaded models, run:\n\n    lms ps\n"
    )


def test_unload_is_exact_not_fuzzy(lms: Lms, home: Home) -> None:
    home.load("qwen/qwen3-4b")
    assert lms.run("unload", "qwen").stderr.startswith("Model Not Found\n")
    assert len(home.instances()) == 1


def test_unload_all(lms: Lms, home: Home) -> None:
    assert lms.run("unload", "--all").stderr == "No models to unload.\n"
    home.load("qwen/qwen3-4b")
    assert lms.run("unload", "-a").stderr == 'Unloading "qwen/qwen3-4b"...\nUnloaded 1 model.\n'
    home.load("qwen/qwen3-4b")
    home.load("google/gemma-3-1b")
    result = lms.run("unload", "--all")
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr == (
        'Unloading "qwen/qwen3-4b"...\nUnloading "google/gemma-3-1b"...\nUnloaded 2 models.\n'
    )
    assert home.instances() == []


def test_unload_all_with_identifier_is_invalid_usage_but_exits_zero(lms: Lms, home: Home) -> None:
    home.load("qwen/qwen3-4b")
    result = lms.run("unload", "qwen/qwen3-4b", "--all")
    assert (result.code, result.stdout) == (0, "")
    assert result.stderr == "Invalid Usage\n\nYou cannot provide [path] when the flag --all is set.\n"
    assert len(home.instances()) == 1


def test_unload_without_argument(lms: Lms, home: Home) -> None:
    result = lms.run("unload")
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == 'You don\'t have any models loaded. Use "lms load" to load a model.\n'
    home.load("qwen/qwen3-4b")
    assert lms.run("unload").stderr == 'Model "qwen/qwen3-4b" unloaded.\n'
    home.load("qwen/qwen3-4b")
    home.load("google/gemma-3-1b")
    result = lms.run("unload")  # several loaded and no terminal to pick one
    assert (result.code, result.stdout) == (1, "! To unload all models, use the --all flag.\n\n")
    assert len(home.instances()) == 2


@pytest.mark.parametrize(
    "command", [["ls"], ["ps"], ["load", "qwen", "-y"], ["unload", "--all"], ["get", "-y", "x/y"]]
)
def test_model_commands_check_an_explicit_port(lms: Lms, command: list[str]) -> None:
    from test_cli_support import free_port

    port = free_port()
    result = lms.run(*command, "--port", str(port))
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: The server does not appear to be running at 127.0.0.1:{port}. Please make sure the server "
        "is running and accessible at the specified address.\n"
    )


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("http://localhost", "Error: Host should not include the protocol.\n"),
        ("localhost:1234", "Error: Host should not include the port number. Use --port instead.\n"),
    ],
)
def test_host_validation(lms: Lms, host: str, message: str) -> None:
    result = lms.run("ps", "--host", host)
    assert (result.code, result.stdout, result.stderr) == (1, "", message)
