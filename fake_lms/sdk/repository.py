"""The ``repository`` namespace (spec §6.6): ``lmLinkStatus``, which the real ``lms`` calls before
``ls``, ``ps``, ``load`` and ``unload`` and hangs without; and the search-and-download flow the
Python SDK's ``client.repository`` uses: ``searchModels``, ``getModelDownloadOptions`` and the
``downloadModel`` channel (progress while the simulated download runs, then ``startFinalizing``
and ``success``). ``lms get``'s own flow (``createDownloadPlan``, ``downloadArtifact``) is not
served."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from fake_lms.sdk.protocol import Wait, bad_parameter
from fake_lms.sdk.registry import Channel, Endpoints, RpcCall, string

DOWNLOAD_POLL_SECONDS = 0.1
SEARCH_LIMIT = 25


def lm_link_status(call: RpcCall) -> Any:
    return call.backend.lm_link_status()


def search_models(call: RpcCall) -> Any:
    opts = call.param().get("opts") or {}
    if not isinstance(opts, Mapping):
        raise bad_parameter(call.endpoint, "'opts' must be an object")
    term = opts.get("searchTerm")
    limit = opts.get("limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or not 0 < limit <= 25):
        raise bad_parameter(call.endpoint, "'limit' must be an integer from 1 to 25")
    return {
        "results": call.backend.search_models(term if isinstance(term, str) else None, limit or SEARCH_LIMIT)
    }


def get_download_options(call: RpcCall) -> Any:
    identifier = call.param().get("modelSearchResultIdentifier")
    if not isinstance(identifier, Mapping) or not isinstance(identifier.get("identifier"), str):
        raise bad_parameter(call.endpoint, "'modelSearchResultIdentifier' must be {type, identifier}")
    return {"results": call.backend.download_options(identifier["identifier"])}


def download_model(channel: Channel) -> Iterator[Any]:
    identifier = string(channel.endpoint, channel.param(), "downloadIdentifier")
    assert identifier is not None
    download = channel.backend.start_download(identifier)
    while not channel.cancelled:
        state = channel.backend.download_state(download)
        yield {
            "type": "downloadProgress",
            "update": {
                "downloadedBytes": state.downloaded_bytes,
                "totalBytes": state.total_bytes,
                "speedBytesPerSecond": state.bytes_per_second,
            },
        }
        if state.done:
            yield {"type": "startFinalizing"}
            yield {"type": "success", "defaultIdentifier": state.default_identifier}
            return
        yield Wait(DOWNLOAD_POLL_SECONDS)


ENDPOINTS = Endpoints(
    rpcs={
        "lmLinkStatus": lm_link_status,
        "searchModels": search_models,
        "getModelDownloadOptions": get_download_options,
    },
    channels={"downloadModel": download_model},
)
