"""What the twins refuse for the two-provider end-to-end suite (tests/e2e/test_providers.py):
the OpenAI twin's `--refuse-key` (HTTP 401 on the upgrade, the service's `invalid_api_key`
body, the key never logged) and the Gemini twin's `--unresumable` (no resumption handle, so a
client whose connection ends cannot resume)."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime_cli.server import ServerOptions
from realtime_cli.server.gemini import GeminiOptions, run_gemini_server

from .conftest import ServerFactory
from .geminiclient import gemini_client
from .rtclient import client

BAD = "sk-test-refused-0123"


@pytest.mark.parametrize("header", [{"Authorization": f"Bearer {BAD}"}, {"api-key": BAD}])
async def test_a_refused_key_gets_http_401_with_the_services_error(
        serve: ServerFactory, header: dict[str, str]) -> None:
    lines: list[str] = []
    async with serve(refused_keys=frozenset({BAD}), log=lines.append) as srv:
        with pytest.raises(InvalidStatus) as caught:
            async with connect(srv.url, additional_headers=header):
                pass
        response = caught.value.response
        assert response.status_code == 401
        assert response.headers["Content-Type"] == "application/json"
        error = json.loads(response.body)["error"]
        assert (error["type"], error["code"], error["param"]) == (
            "invalid_request_error", "invalid_api_key", None)
        assert srv.connections == 0  # no WebSocket was opened
        async with client(srv.url) as rt:  # any other key is still accepted
            assert rt.events[0]["type"] == "session.created"
    assert lines == ["refused an API key on the upgrade (HTTP 401)"] + lines[1:]
    assert not any(BAD in line for line in lines)


async def test_an_unresumable_session_hands_out_no_handle() -> None:
    options = ServerOptions(port=0, pace=0.0)
    async with run_gemini_server(options, GeminiOptions(resumable=False)) as srv, \
            gemini_client(srv.url) as gemini:
        update = await gemini.wait_for("sessionResumptionUpdate")
    assert update == {"sessionResumptionUpdate": {}}  # not resumable, no newHandle
    assert gemini.received[0] == {"setupComplete": {}}
