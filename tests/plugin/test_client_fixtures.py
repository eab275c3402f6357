"""Client fixtures: the SSL context and connection pool are the session's, every client object the test's."""

from __future__ import annotations

import pytest

ISOLATION = """
import httpx

seen = {}


def sent_headers(root):
    \"\"\"The headers of every request the fake process received, oldest first.\"\"\"
    records = httpx.get(root + "/__fake__/requests", trust_env=False).json()["requests"]
    return [{name.lower(): value for name, value in record["headers"]} for record in records]


def test_1_changes_its_clients_and_closes_them(lmstudio_client, lmstudio_openai, lmstudio_server,
                                               _lmstudio_shared_http):
    lmstudio_client._http.headers["X-Leak"] = "client"
    lmstudio_client._http.cookies.set("leak", "1")
    lmstudio_client.default_model = "leaky/model"
    lmstudio_openai._client.headers["X-Leak"] = "openai"
    lmstudio_openai.max_retries = 7
    lmstudio_openai.timeout = 1.5
    assert lmstudio_client.models()
    lmstudio_openai.models.list()
    client_sent, openai_sent = sent_headers(lmstudio_server.url)[-2:]
    assert client_sent["x-leak"] == "client" and "cookie" in client_sent  # its value is redacted
    assert openai_sent["x-leak"] == "openai"
    seen.update(client=lmstudio_client, openai=lmstudio_openai, shared=_lmstudio_shared_http,
                ssl=_lmstudio_shared_http.ssl_context(), pool=lmstudio_client._http._transport.shared)
    lmstudio_client.close()
    lmstudio_openai.close()  # closes the http client it was given: only this test's


def test_2_sees_none_of_it(lmstudio_client, lmstudio_openai, lmstudio_server, _lmstudio_shared_http):
    assert lmstudio_client is not seen["client"] and lmstudio_openai is not seen["openai"]
    assert lmstudio_client._http is not seen["client"]._http
    assert lmstudio_openai._client is not seen["openai"]._client
    # what is shared: one SSL context, one pool
    assert _lmstudio_shared_http is seen["shared"] and _lmstudio_shared_http.ssl_context() is seen["ssl"]
    assert lmstudio_client._http._transport.shared is seen["pool"]
    assert seen["pool"]._pool.connections, "test 1's keep-alive connection waits for this test"
    # what is not: headers, cookies, options
    assert lmstudio_client.default_model != "leaky/model"
    assert "x-leak" not in lmstudio_client._http.headers and not lmstudio_client._http.cookies
    assert "x-leak" not in lmstudio_openai._client.headers and lmstudio_openai.max_retries != 7
    assert lmstudio_openai.timeout != 1.5
    assert lmstudio_client.models()  # the pool outlived test 1 closing its clients
    lmstudio_openai.models.list()
    for headers in sent_headers(lmstudio_server.url)[-2:]:
        assert "x-leak" not in headers and "cookie" not in headers


async def test_3_async_clients_change_theirs(lmstudio_async_client, lmstudio_async_openai):
    lmstudio_async_client._http.headers["X-Leak"] = "async"
    lmstudio_async_openai._client.headers["X-Leak"] = "async-openai"
    assert await lmstudio_async_client.models()
    await lmstudio_async_openai.models.list()
    seen.update(async_client=lmstudio_async_client, async_openai=lmstudio_async_openai)


async def test_4_async_clients_are_new(lmstudio_async_client, lmstudio_async_openai, lmstudio_server):
    assert lmstudio_async_client is not seen["async_client"]
    assert lmstudio_async_openai is not seen["async_openai"]
    assert "x-leak" not in lmstudio_async_client._http.headers
    assert "x-leak" not in lmstudio_async_openai._client.headers
    assert await lmstudio_async_client.models()
    await lmstudio_async_openai.models.list()
    for headers in sent_headers(lmstudio_server.url)[-2:]:
        assert "x-leak" not in headers
"""


def test_client_fixtures_share_the_pool_not_the_clients(pytester: pytest.Pytester) -> None:
    pytest.importorskip("openai")
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_isolation=ISOLATION)
    result = pytester.runpytest_subprocess("--lmstudio-mode=fake", "-p", "no:randomly")
    result.assert_outcomes(passed=4)
