"""`rt serve --protocol gemini` driven by a real WebSocket client over loopback: setup, a spoken
question through the Silero VAD, a barge-in, a tool call, goAway and resumption, a drop, keys,
the setup refusals and push-to-talk. Every message either side sends is checked against the
`google-genai` Live types (`geminiclient.py`)."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from realtime_cli.audio.pcm import bytes_to_ms, silence
from realtime_cli.server import ServerOptions
from realtime_cli.server.gemini import GeminiOptions, RunningGeminiServer, run_gemini_server
from realtime_cli.server.gemini.messages import (
    BAD_KEY_REASON,
    DEADLINE_REASON,
    HANDLE_REFUSED_REASON,
    NO_KEY_REASON,
    STILL_CONNECTED_REASON,
    close_reason,
)

from .geminiclient import BASE_SETUP, GeminiClient, Message, at, audio_bytes, gemini_client, said

REPO = Path(__file__).resolve().parents[2]
WEATHER = {"functionDeclarations": [{
    "name": "get_weather", "description": "Weather in a city.",
    "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}},
                   "required": ["city"]}}]}


def gemini(refused_keys: frozenset[str] = frozenset(), handle_ttl: float | None = None,
           **options: Any) -> AbstractAsyncContextManager[RunningGeminiServer]:
    defaults: dict[str, Any] = {"port": 0, "pace": 0.0}
    return run_gemini_server(ServerOptions(**{**defaults, **options}),
                             GeminiOptions(refused_keys=refused_keys, handle_ttl=handle_ttl))


def first(messages: list[Message], path: str) -> int:
    return next(i for i, m in enumerate(messages) if at(m, path) is not None)


async def handle_of(client: GeminiClient) -> str:
    update = await client.wait_for("sessionResumptionUpdate")
    return str(update["sessionResumptionUpdate"]["newHandle"])


def resuming(handle: str) -> Message:
    return {**BASE_SETUP, "sessionResumption": {"handle": handle}}


async def closed_with(client: GeminiClient) -> tuple[int | None, str | None]:
    """Read until the server closes; the close code and reason it sent (None: dropped)."""
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(10_000):
            await client.recv()
    received = closed.value.rcvd
    return (received.code, received.reason) if received is not None else (None, None)


async def test_setup_is_answered_with_setup_complete_then_a_handle() -> None:
    async with gemini() as srv, gemini_client(srv.url) as client:
        update = await client.wait_for("sessionResumptionUpdate")
    assert client.received[0] == {"setupComplete": {}}
    handle = update["sessionResumptionUpdate"]["newHandle"]
    assert len(handle) == 36 and update["sessionResumptionUpdate"]["resumable"] is True
    assert srv.messages("setup", conn=1) == [{"setup": BASE_SETUP}]


async def test_a_spoken_question_is_heard_and_answered_with_audio(hello_pcm: bytes) -> None:
    async with gemini() as srv, gemini_client(srv.url) as client:
        await client.send_audio(hello_pcm)
        turn = await client.turn()
    heard = next(m for m in turn if at(m, "serverContent.inputTranscription"))
    seconds = float(heard["serverContent"]["inputTranscription"]["text"].split()[1])
    assert 1.5 < seconds < bytes_to_ms(len(hello_pcm)) / 1000
    answer = said(turn)
    assert answer == f"Turn 1. You spoke for {seconds:.1f} seconds. This is rt serve."
    parts = [p for m in turn for p in at(m, "serverContent.modelTurn.parts") or []]
    assert parts and {p["inlineData"]["mimeType"] for p in parts} == {"audio/pcm;rate=24000"}
    order = [first(turn, "serverContent.inputTranscription"), first(turn, "serverContent.modelTurn"),
             first(turn, "serverContent.generationComplete"), len(turn) - 1]
    assert order == sorted(order)
    last = turn[-1]
    assert last["serverContent"] == {"turnComplete": True}
    usage = last["usageMetadata"]
    audio_ms = bytes_to_ms(audio_bytes(turn))
    assert usage["responseTokensDetails"] == [
        {"modality": "AUDIO", "tokenCount": math.ceil(audio_ms * 32 / 1000)}]
    [prompt] = usage["promptTokensDetails"]  # no instructions: the user's speech alone
    assert prompt["modality"] == "AUDIO" and abs(prompt["tokenCount"] - seconds * 32) <= 2
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["responseTokenCount"]


async def test_24_khz_input_is_heard_too(hello_pcm: bytes) -> None:
    async with gemini() as srv, gemini_client(srv.url) as client:
        await client.send_audio(hello_pcm, rate=24_000)
        turn = await client.turn()
    assert said(turn).startswith("Turn 1. You spoke for")


async def test_speech_over_the_answer_interrupts_it(hello_pcm: bytes) -> None:
    async with gemini(pace=1.0, burst_ms=500) as srv, gemini_client(srv.url) as client:
        await client.say("tell me a long story")
        await client.wait_for("serverContent.modelTurn")
        await client.send_audio(hello_pcm)
        cut = await client.turn()
        second = await client.turn(within=20)
    flags = [m["serverContent"] for m in cut if "serverContent" in m and not
             ({"modelTurn", "outputTranscription", "inputTranscription"} & set(m["serverContent"]))]
    assert flags == [{"interrupted": True}, {"turnComplete": True}]
    full_ms = 3000  # the reply is about 4 s of speech, the barge-in came after its first 0.5 s
    sent_ms = bytes_to_ms(audio_bytes(client.received[:client.received.index(cut[-1]) + 1]))
    assert sent_ms < full_ms
    assert cut[-1]["usageMetadata"]["responseTokenCount"] == math.ceil(sent_ms * 32 / 1000)
    assert said(second).startswith("Turn 2. You spoke for")


async def test_a_tool_call_round_trip() -> None:
    setup = {**BASE_SETUP, "tools": [WEATHER]}
    async with gemini() as srv, gemini_client(srv.url, setup=setup) as client:
        await client.say("Use get_weather for Oslo, please.")
        calling = await client.turn()
        call = calling[-2]["toolCall"]["functionCalls"][0]
        await client.send({"toolResponse": {"functionResponses": [
            {"id": call["id"], "name": "get_weather", "response": {"output": "sunny, 21 C"}}]}})
        answer = await client.turn()
    assert call["name"] == "get_weather"
    assert call["args"] == {"city": "Use get_weather for Oslo, please."}
    assert [list(m) for m in calling[-2:]] == [["toolCall"], ["serverContent", "usageMetadata"]]
    assert not any(at(m, "serverContent.generationComplete") for m in calling)
    assert said(answer) == "Turn 2. The get_weather tool returned: sunny, 21 C"


async def test_a_new_turn_over_a_pending_call_cancels_it() -> None:
    """The user moves on before the call's output came: the service withdraws the call with
    `toolCallCancellation`, and a late output for it is ignored."""
    setup = {**BASE_SETUP, "tools": [WEATHER]}
    log: list[str] = []
    async with gemini(log=log.append) as srv, gemini_client(srv.url, setup=setup) as client:
        await client.say("Use get_weather for Oslo, please.")
        calling = await client.turn()
        call = calling[-2]["toolCall"]["functionCalls"][0]
        await client.say("Never mind.")
        cancelled = await client.wait_for("toolCallCancellation")
        answer = await client.turn()
        await client.send({"toolResponse": {"functionResponses": [
            {"id": call["id"], "name": "get_weather", "response": {"output": "sunny"}}]}})
        await asyncio.sleep(0.2)
    assert cancelled == {"toolCallCancellation": {"ids": [call["id"]]}}
    assert said(answer) == 'Turn 2. You wrote: "Never mind.". This is rt serve.'
    assert any("not pending: ignored" in line for line in log), log
    assert not any("toolCall" in m for m in client.received[len(calling) + 1:])


async def test_go_away_then_the_deadline_then_a_resumed_session_keeps_the_conversation() -> None:
    async with gemini(expire_after=3.0, fault_connections=1) as srv:
        async with gemini_client(srv.url) as old:
            handle = await handle_of(old)
            await old.say("hello")
            first_turn = await old.turn()
            away = await old.wait_for("goAway")
            assert await closed_with(old) == (1011, DEADLINE_REASON)
        async with gemini_client(srv.url, setup=resuming(handle)) as new:
            await new.wait_for("sessionResumptionUpdate")
            await new.say("and now?")
            second_turn = await new.turn()
    assert away == {"goAway": {"timeLeft": "1.5s"}}
    assert said(first_turn).startswith("Turn 1.")
    assert said(second_turn) == 'Turn 2. You wrote: "and now?". This is rt serve.'
    # the resumed prompt is the whole first turn (question and answer) plus "and now?"
    prompt = second_turn[-1]["usageMetadata"]["promptTokenCount"]
    assert prompt == first_turn[-1]["usageMetadata"]["totalTokenCount"] + 2


async def test_resuming_a_session_still_connected_is_refused_with_1011() -> None:
    async with gemini() as srv, gemini_client(srv.url) as old:
        handle = await handle_of(old)
        async with gemini_client(srv.url, ready=False) as new:
            await new.send({"setup": resuming(handle)})
            assert await closed_with(new) == (1011, STILL_CONNECTED_REASON)
        await old.say("still here")
        assert said(await old.turn()).startswith("Turn 1.")


async def test_a_dropped_socket_sends_no_go_away_and_the_session_resumes() -> None:
    async with gemini(drop_after=2.0, fault_connections=1) as srv:
        async with gemini_client(srv.url) as old:
            handle = await handle_of(old)
            await old.say("before the drop")
            await old.turn()
            assert await closed_with(old) == (None, None)
        assert not any("goAway" in m for m in old.received)
        async with gemini_client(srv.url, setup=resuming(handle)) as new:
            await new.say("after the drop")
            assert said(await new.turn()).startswith("Turn 2.")


async def test_a_handle_past_its_lifetime_is_refused_as_an_unknown_one_is() -> None:
    """`--handle-ttl`: the session's handles expire that long after its last connection ended
    (the service keeps them 2 hours); while a connection holds the session they do not."""
    async with gemini(handle_ttl=0.3) as srv:
        async with gemini_client(srv.url) as old:
            handle = await handle_of(old)
            await asyncio.sleep(0.5)  # attached: the clock has not started
        async with gemini_client(srv.url, setup=resuming(handle)) as new:
            fresh = await handle_of(new)
        await asyncio.sleep(0.5)
        async with gemini_client(srv.url, ready=False) as late:
            await late.send({"setup": resuming(fresh)})
            refused = await closed_with(late)
    assert refused == (1008, HANDLE_REFUSED_REASON)


async def test_an_unknown_handle_is_refused() -> None:
    setup = {**BASE_SETUP, "sessionResumption": {"handle": "x" * 36}}
    async with gemini() as srv, gemini_client(srv.url, ready=False) as client:
        await client.send({"setup": setup})
        code, _ = await closed_with(client)
    assert code == 1008


@pytest.mark.parametrize(("key", "expected"), [(None, (1008, close_reason(NO_KEY_REASON))),
                                               ("bad", (1007, BAD_KEY_REASON))])
async def test_a_missing_or_refused_key_closes_the_connection(
        key: str | None, expected: tuple[int, str]) -> None:
    async with gemini(refused_keys=frozenset({"bad"})) as srv, \
            gemini_client(srv.url, key=key, ready=False) as client:
        await client.send({"setup": BASE_SETUP})
        assert await closed_with(client) == expected
    assert srv.received == []


async def test_the_sdk_header_carries_the_key_too() -> None:
    async with gemini() as srv, gemini_client(srv.url, key=None,
                                              headers={"x-goog-api-key": "k"}) as client:
        assert client.received[0] == {"setupComplete": {}}
    assert srv.credentials == [{"header": "k"}]


@pytest.mark.parametrize(("query", "header", "refused"), [
    ("bad", "good", True), ("good", "bad", True), ("good", "good", False)])
async def test_a_key_in_both_places_is_taken_and_either_one_refused_refuses(
        query: str, header: str, refused: bool) -> None:
    log: list[str] = []
    async with gemini(refused_keys=frozenset({"bad"}), log=log.append) as srv, \
            gemini_client(srv.url, key=query, headers={"x-goog-api-key": header},
                          ready=False) as client:
        await client.send({"setup": BASE_SETUP})
        if refused:
            assert await closed_with(client) == (1007, BAD_KEY_REASON)
        else:
            await client.wait_for("setupComplete")
    assert srv.credentials == [{"query": query, "header": header}]
    assert any("key in the query and the header" in line for line in log), log
    assert not [line for line in log if "good" in line or "bad" in line]


@pytest.mark.parametrize(("setup", "reason"), [
    ({**BASE_SETUP, "sessionResumption": {"transparent": True}},
     'Invalid JSON payload received. Unknown name "transparent" at '
     "'setup.session_resumption': Cannot find field."),
    ({**BASE_SETUP, "generationConfig": {"responseModalities": ["AUDIO", "TEXT"]}},
     "Invalid value at 'setup.generation_config.response_modalities': exactly one of AUDIO or "
     "TEXT, got ['AUDIO', 'TEXT']"),
])
async def test_a_setup_the_developer_api_refuses_closes_with_1007(
        setup: Message, reason: str) -> None:
    async with gemini() as srv, gemini_client(srv.url, ready=False) as client:
        await client.send({"setup": setup})
        assert await closed_with(client) == (1007, reason)


async def test_anything_before_setup_closes_with_1007() -> None:
    async with gemini() as srv, gemini_client(srv.url, ready=False) as client:
        await client.say("hello?")
        code, _ = await closed_with(client)
    assert code == 1007


async def test_push_to_talk_marks_the_turn_with_activity_signals(hello_pcm: bytes) -> None:
    setup = {**BASE_SETUP, "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}}}
    async with gemini() as srv, gemini_client(srv.url, setup=setup) as client:
        await client.send({"realtimeInput": {"activityStart": {}}})
        await client.send_audio(hello_pcm[: len(hello_pcm) // 2])
        await client.send({"realtimeInput": {"activityEnd": {}}})
        turn = await client.turn()
    seconds = bytes_to_ms(len(hello_pcm) // 2) / 1000
    assert said(turn) == f"Turn 1. You sent {seconds:.1f} seconds of audio. This is rt serve."


async def test_activity_signals_with_automatic_detection_close_with_1007() -> None:
    async with gemini() as srv, gemini_client(srv.url) as client:
        await client.send({"realtimeInput": {"activityStart": {}}})
        code, _ = await closed_with(client)
    assert code == 1007


async def test_silence_is_no_turn() -> None:
    async with gemini() as srv, gemini_client(srv.url) as client:
        await client.send_audio(silence(2000))
        await client.say("only this")
        turn = await client.turn()
    assert said(turn) == 'Turn 1. You wrote: "only this". This is rt serve.'


async def test_drop_on_a_message_kind_drops_right_after_it() -> None:
    async with gemini(drop_on="turnComplete") as srv, gemini_client(srv.url) as client:
        await client.say("hello")
        await client.turn()
        assert await closed_with(client) == (None, None)


def test_cli_serves_gemini_live_on_its_path() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "realtime_cli", "serve", "--protocol", "gemini", "--port", "0",
         "--pace", "0", "--refuse-key", "bad-key", "--handle-ttl", "7200"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
        assert url.endswith("/ws/google.ai.generativelanguage.v1beta.GenerativeService."
                            "BidiGenerateContent")

        async def talk() -> tuple[Message, tuple[int | None, str | None]]:
            async with gemini_client(url, key="secret-key") as good:
                ready = good.received[0]
            async with gemini_client(url, key="bad-key", ready=False) as bad:
                await bad.send({"setup": BASE_SETUP})
                return ready, await closed_with(bad)

        assert asyncio.run(talk()) == ({"setupComplete": {}}, (1007, BAD_KEY_REASON))
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "conn 1: open" in err
    assert "secret-key" not in err and "bad-key" not in err
