"""Issue 14's acceptance, tried as a new user would: ``python -m fake_lms serve`` in a process of
its own, a model loaded with the fake ``lms`` at a 4,096-token context, and unchanged clients
(``openai``; ``litellm`` where it is installed, see docs/compatibility.md) sending a 20,000-word
prompt and an image to a model without vision. Both errors must surface as the same exception
types those clients raise against LM Studio, built from LM Studio's bodies:

- overflow: 400 ``{"error":"The number of tokens to keep from the initial prompt is greater than
  the context length (n_keep: …>= n_ctx: 4096). …"}`` (Gitlawb/openclaude#353; fidelity review §4.1);
- an image to a non-vision model: 400 ``{"error":"Model does not support images. Please use a model
  that does."}`` (bug-tracker #908; fidelity review §4.4).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import openai
import pytest

LLM = "qwen/qwen3-4b"  # no vision
PROMPT = " ".join(f"word{i}" for i in range(20_000))
IMAGE = (  # a 1x1 PNG, as base64 data: the only form LM Studio takes (bug-tracker #1120)
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
)
WITH_IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": IMAGE}},
        ],
    }
]
OVERFLOW_END = (
    ">= n_ctx: 4096). Try to load the model with a larger context length, or provide a shorter input."
)
NO_IMAGES = "Model does not support images. Please use a model that does."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m fake_lms serve`` and ``lms load qwen/qwen3-4b --context-length 4096``; the root URL."""
    home = tmp_path_factory.mktemp("new-user") / "home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fake_lms", "serve", "--port", "0", "--home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        load = subprocess.run(
            [sys.executable, "-m", "fake_lms", "load", LLM, "--context-length", "4096", "--yes"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "LMS_FAKE_HOME": str(home)},
        )
        assert load.returncode == 0, load.stderr
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.fixture
def client(server: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server + "/v1", api_key="lm-studio", max_retries=0) as c:
        yield c


def test_openai_overflow_is_bad_request_with_lm_studios_message(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=LLM, messages=[{"role": "user", "content": PROMPT}])
    assert info.value.status_code == 400
    error = info.value.response.json()["error"]
    assert isinstance(error, str) and error.endswith(OVERFLOW_END)


def test_openai_streamed_overflow_raises_from_the_stream(client: openai.OpenAI) -> None:
    """0.4.21 streams answer HTTP 200 carrying the error (bug-tracker #2322); the openai SDK raises
    an ``APIError`` while iterating, as it does against LM Studio."""
    stream = client.chat.completions.create(
        model=LLM, messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    with pytest.raises(openai.APIError, match="n_keep"):
        list(stream)


def test_openai_image_to_a_model_without_vision(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=LLM, messages=WITH_IMAGE)  # type: ignore[arg-type]
    assert info.value.response.json() == {"error": NO_IMAGES}


# litellm: not installable beside the test extra (it pins openai<3); these run in a venv that has it
@pytest.fixture
def litellm(server: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no remote cost-map fetch at import
    module = pytest.importorskip("litellm")
    monkeypatch.setattr(module, "suppress_debug_info", True)
    monkeypatch.setenv("LM_STUDIO_API_BASE", server + "/v1")
    return module


def test_litellm_overflow(litellm: Any) -> None:
    """litellm 1.110 raises its BadRequestError (an openai.BadRequestError), not
    ContextWindowExceededError: it recognises an overflow by the message, and LM Studio's bare-string
    body leaves only "Lm_studioException - Error code: 400" in it (docs/compatibility.md)."""
    with pytest.raises(litellm.BadRequestError) as info:
        litellm.completion(model="lm_studio/" + LLM, messages=[{"role": "user", "content": PROMPT}])
    assert type(info.value) is litellm.BadRequestError and info.value.status_code == 400
    assert info.value.response.json()["error"].endswith(OVERFLOW_END)


def test_litellm_image_to_a_model_without_vision(litellm: Any) -> None:
    with pytest.raises(litellm.BadRequestError) as info:
        litellm.completion(model="lm_studio/" + LLM, messages=WITH_IMAGE)
    assert type(info.value) is litellm.BadRequestError
    assert info.value.response.json() == {"error": NO_IMAGES}
