"""Protocol logic of the fake LM Studio: parsed request in, :class:`Reply` out, no HTTP engine."""

from fake_lms.api.types import ApiRequest, BadJSON, Reply, SSEEvent

__all__ = ["ApiRequest", "BadJSON", "Reply", "SSEEvent"]
