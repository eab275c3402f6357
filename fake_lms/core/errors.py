"""Domain errors: what went wrong with a request, in no wire format.

The core raises these; each dialect renders them in its own shape (``fake_lms.api.errors``
renders the OpenAI and native v1 shapes, ``fake_lms.api.anthropic`` the Anthropic one, the SDK
dialect an ``rpcError`` or ``channelError``). The words are LM Studio's.

    CoreError
    ├── NoModelsLoaded       no instance is loaded, and nothing may be JIT-loaded
    ├── InvalidModel         the name is no instance, no downloaded model (``model_not_found``)
    ├── WrongModelType       an embedding model asked to chat
    ├── NotEmbeddingModel    an LLM asked to embed, that JIT would have to load
    ├── NoEmbeddingModelLoaded  an LLM asked to embed while it is loaded (bare string)
    ├── InvalidField         a field the core reads (``model``, ``ttl``) has the wrong type
    └── ContextOverflow      the prompt does not fit the loaded instance's context length
"""

from __future__ import annotations

from collections.abc import Sequence

NO_MODELS_LOADED = (
    "No models loaded. Please load a model in the developer page or use the 'lms load' command."
)
# what a scripted context_length_exceeded() says (llama.cpp's sentence, without the counts)
CONTEXT_LENGTH_MESSAGE = (
    "The number of tokens to keep from the initial prompt is greater than the context length. "
    "Try to load the model with a larger context length, or provide a shorter input."
)
# what a scripted stream_error() says: LM Studio's words for a model process that died mid-answer
MODEL_CRASHED_MESSAGE = "The model has crashed without additional information. (Exit code: null)"


class CoreError(Exception):
    """A request the fake refuses, as LM Studio would: an HTTP status, a message, the request
    field it concerns and a machine-readable code (``None`` where LM Studio sends none)."""

    status = 400
    code: str | None = None
    bare = False  # LM Studio sends it as {"error": "<message>"} on the OpenAI-compatible endpoints

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class NoModelsLoaded(CoreError):
    def __init__(self) -> None:
        super().__init__(NO_MODELS_LOADED, param="model")


class InvalidModel(CoreError):
    code = "model_not_found"

    def __init__(self, name: str, known: Sequence[str]) -> None:
        examples = ", ".join(known[:3])
        hint = f" (e.g., {examples})" if examples else ""
        super().__init__(
            f'Invalid model identifier "{name}". Please specify a valid downloaded model{hint}.',
            param="model",
        )
        self.name = name


class WrongModelType(CoreError):
    def __init__(self, name: str, actual: str, wanted: str) -> None:
        super().__init__(
            f'Model "{name}" is an {actual} model and cannot be used for {wanted}. '
            "Please specify a model of the right type.",
            param="model",
        )


class NotEmbeddingModel(CoreError):
    """LM Studio's JIT path refusing to load an LLM for ``/v1/embeddings`` (lms#205; fidelity
    review row 14)."""

    code = "model_not_found"

    def __init__(self, variant_key: str) -> None:
        message = f'Failed to load model "{variant_key}". Error: Model is not embedding.'
        super().__init__(message, param="model")


class NoEmbeddingModelLoaded(NoModelsLoaded):
    """An LLM that is loaded, named for ``/v1/embeddings``: LM Studio finds no embedding model and
    says so in the bare-string shape (bug-tracker #1908, 2026-05; fidelity review row 14)."""

    bare = True


class InvalidField(CoreError):
    pass


class ContextOverflow(CoreError):
    """llama.cpp's refusal, as LM Studio 0.4.x passes it on (fidelity-review §4.1)."""

    code = "context_length_exceeded"
    bare = True  # llama.cpp's message, passed on as a string

    def __init__(self, n_keep: int, n_ctx: int) -> None:
        super().__init__(
            "The number of tokens to keep from the initial prompt is greater than the context length "
            f"(n_keep: {n_keep}>= n_ctx: {n_ctx}). Try to load the model with a larger context length, "
            "or provide a shorter input.",
            param="messages",
        )
        self.n_keep = n_keep
        self.n_ctx = n_ctx
