"""A refused API key ends the run as `KeyRejected`, exit 2, whichever provider refused it and
however (runtime/refusals.py): an HTTP 401 on the upgrade or an `invalid_api_key` error from
OpenAI, a close saying the key is not valid from Gemini Live (here the twin, in this process).
Any other refusal still ends as a transport failure, exit 3."""

from __future__ import annotations

import asyncio

import pytest

from realtime_cli.core.config import SessionConfig
from realtime_cli.core.session import SessionCore
from realtime_cli.errors import FatalServerError, KeyRejected, TransportError
from realtime_cli.protocol import events as ev
from realtime_cli.protocol.gemini_live import GeminiLiveCodec
from realtime_cli.runtime.refusals import close_refusal, event_refusal
from realtime_cli.runtime.runner import Runner
from realtime_cli.server import ServerOptions
from realtime_cli.server.gemini import GeminiOptions, run_gemini_server
from realtime_cli.transport.endpoint import Endpoint
from realtime_cli.transport.gemini_endpoint import resolve_gemini_endpoint
from realtime_cli.transport.memory import MemoryTransport

from .test_runner_memory import (
    ENDPOINT,
    TIMEOUT_S,
    FakeMic,
    FakeSpeaker,
    make_ready,
    make_runner,
    new_peer,
    send_scripted,
)

BAD_KEY = "API key not valid. Please pass a valid API key."
NO_KEY = ("Method doesn't allow unregistered callers (callers without established identity). "
          "Please use API Key or other form of API consumer identity to call this API.")


async def test_a_key_refused_on_the_upgrade_ends_the_run_with_exit_2() -> None:
    transport = MemoryTransport()
    transport.refuse(KeyRejected("HTTP 401 from in-memory: the API key (OPENAI_API_KEY) was "
                                 "rejected"))
    runner, _, _ = make_runner(transport)
    async with asyncio.timeout(TIMEOUT_S):
        with pytest.raises(KeyRejected) as raised:
            await runner.run()
    assert raised.value.exit_code == 2
    assert raised.value.message == ("HTTP 401 from in-memory: the API key (OPENAI_API_KEY) was "
                                    "rejected")
    assert transport.connects == 1  # never retried


async def test_another_refusal_on_the_upgrade_keeps_exit_3() -> None:
    transport = MemoryTransport()
    transport.refuse(FatalServerError("HTTP 404 from in-memory: model or endpoint not found"))
    runner, _, _ = make_runner(transport)
    async with asyncio.timeout(TIMEOUT_S):
        with pytest.raises(TransportError) as raised:
            await runner.run()
    assert not isinstance(raised.value, KeyRejected) and raised.value.exit_code == 3


async def test_an_invalid_api_key_error_ends_the_run_with_exit_2() -> None:
    transport = MemoryTransport()
    runner, _, _ = make_runner(transport)
    peer = new_peer()

    async def server_side() -> None:
        server = await transport.accept()
        await make_ready(server, peer)
        peer.error("invalid_api_key", "Incorrect API key provided.")
        await send_scripted(server, peer)

    async with asyncio.timeout(TIMEOUT_S):
        with pytest.raises(KeyRejected) as raised:
            await asyncio.gather(runner.run(), server_side())
    assert raised.value.exit_code == 2
    assert raised.value.message == ("in-memory: the API key (OPENAI_API_KEY) was rejected "
                                    "(Incorrect API key provided.)")
    assert transport.connects == 1


async def test_a_key_the_gemini_twin_refuses_ends_the_run_with_exit_2() -> None:
    """The twin accepts the upgrade and closes with 1007 at the setup, as the service does."""
    options = ServerOptions(port=0, pace=0.0)
    async with run_gemini_server(options, GeminiOptions(refused_keys=frozenset({"bad"}))) as srv:
        config = SessionConfig(provider="gemini", model="gemini-3.8-live", voice="Puck",
                               transcription_model=None)
        core = SessionCore(config, session_id="k" * 32, now=0.0)
        endpoint = resolve_gemini_endpoint(url=srv.url, env={"GEMINI_API_KEY": "bad"})
        runner = Runner(core, endpoint, FakeMic(), FakeSpeaker(),
                        codec=lambda: GeminiLiveCodec(config))
        async with asyncio.timeout(TIMEOUT_S):
            with pytest.raises(KeyRejected) as raised:
                await runner.run()
        assert srv.connections == 1  # never retried
    assert raised.value.exit_code == 2
    assert raised.value.message == (
        "close 1007 from 127.0.0.1: the API key (GOOGLE_API_KEY or GEMINI_API_KEY) was rejected "
        f"({BAD_KEY})")
    assert "bad" not in raised.value.message.replace(BAD_KEY, "")


GEMINI = Endpoint(url="wss://generativelanguage.googleapis.com/ws/x", kind="gemini",
                  key_name="API key (GOOGLE_API_KEY or GEMINI_API_KEY)")


@pytest.mark.parametrize(("provider", "code", "reason", "line"), [
    ("gemini", 1007, BAD_KEY, "close 1007 from generativelanguage.googleapis.com: the API key "
     f"(GOOGLE_API_KEY or GEMINI_API_KEY) was rejected ({BAD_KEY})"),
    ("gemini", 1008, NO_KEY[:123], "close 1008 from generativelanguage.googleapis.com: no API "
     "key was sent (set GOOGLE_API_KEY or GEMINI_API_KEY)"),
    ("gemini", 1007, "Invalid JSON payload received.", None),
    ("gemini", 1011, "Internal error encountered.", None),
    ("gemini", None, "", None),
    ("openai", 1007, BAD_KEY, None),  # only Gemini words a refused key as a close
])
def test_which_closes_refuse_the_key(provider: str, code: int | None, reason: str,
                                     line: str | None) -> None:
    refusal = close_refusal(provider, GEMINI, code, reason)
    assert (refusal.message if refusal is not None else None) == line


def test_which_errors_refuse_the_key() -> None:
    azure = Endpoint(url="wss://r.openai.azure.com/openai/v1/realtime", kind="azure",
                     key_name="Azure key (AZURE_OPENAI_API_KEY)")
    refusal = event_refusal(azure, ev.ServerError(
        type="invalid_request_error", code="invalid_api_key", message="Incorrect API key."))
    assert refusal is not None and refusal.exit_code == 2
    assert refusal.message == ("r.openai.azure.com: the Azure key (AZURE_OPENAI_API_KEY) was "
                               "rejected (Incorrect API key.)")
    assert event_refusal(ENDPOINT, ev.ServerError(
        type="invalid_request_error", code="session_expired", message="expired")) is None
