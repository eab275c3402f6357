"""The ``files`` namespace: ``uploadFileBase64`` (spec §6.7), what ``client.files.prepare_image``
uses before an image goes into a chat. The fake keeps no file: the identifier is derived from the
content, and the chat history only carries the file's name and identifier."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from fake_lms.sdk.protocol import bad_parameter
from fake_lms.sdk.registry import Endpoints, RpcCall, string

IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")
IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "gif", "webp", "bmp")
TEXT_EXTENSIONS = ("txt", "md", "markdown")


def file_type(name: str, data: bytes) -> str:
    """LM Studio's ``fileType``: ``image``, ``text/plain``, ``application/pdf`` or ``unknown``."""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if data.startswith(IMAGE_MAGIC) or extension in IMAGE_EXTENSIONS:
        return "image"
    if data.startswith(b"%PDF") or extension == "pdf":
        return "application/pdf"
    if extension in TEXT_EXTENSIONS:
        return "text/plain"
    return "unknown"


def upload_file_base64(call: RpcCall) -> Any:
    param = call.param()
    name = string(call.endpoint, param, "name")
    content = string(call.endpoint, param, "contentBase64")
    assert name is not None and content is not None
    try:
        data = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise bad_parameter(call.endpoint, "'contentBase64' is not valid base64") from None
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else "bin"
    identifier = f"{hashlib.sha256(data).hexdigest()[:20]}.{extension}"
    return {"identifier": identifier, "fileType": file_type(name, data), "sizeBytes": len(data)}


ENDPOINTS = Endpoints(rpcs={"uploadFileBase64": upload_file_base64})
