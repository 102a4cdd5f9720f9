"""`rt serve` behaves like the service where a source says how (docs/protocol.md): failed and
incomplete responses, several output items (preamble, function call, `phase`), a truncate that
leaves the response running, the transcript ahead of the audio, `--drop-on`, `--seed`, and the
official `openai` SDK client holding a turn."""

from __future__ import annotations

import base64

import pytest
from websockets.exceptions import ConnectionClosedError

from realtime_cli.audio.pcm import bytes_to_ms
from realtime_cli.server.response_faults import FAILURES, ResponseFault

from .conftest import ServerFactory
from .rtclient import Event, RtClient, client

TOOL = {"type": "function", "name": "get_weather", "description": "Weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


async def _start(rt: RtClient, text: str = "hello") -> None:
    """A typed user turn and the `response.create` that answers it."""
    await rt.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
    await rt.send({"type": "response.create"})


async def _ask(rt: RtClient, text: str = "hello") -> list[Event]:
    """`_start`, then the events of that response up to `response.done`."""
    await _start(rt, text)
    return await rt.collect_until("response.done")


def _audio_ms(events: list[Event], item_id: str) -> float:
    return bytes_to_ms(sum(len(base64.b64decode(e["delta"])) for e in events
                           if e["type"] == "response.output_audio.delta"
                           and e["item_id"] == item_id))


@pytest.mark.parametrize("kind", sorted(FAILURES))
async def test_a_failed_response_carries_its_error_and_the_next_one_runs(
        serve: ServerFactory, kind: str) -> None:
    async with serve(fail=(ResponseFault(kind, 1),)) as srv, client(srv.url) as rt:
        failed = await _ask(rt)
        limits = await rt.wait_for("rate_limits.updated")
        second = (await _ask(rt))[-1]["response"]
    assert [e["type"] for e in failed if e["type"].startswith("response.")] == [
        "response.created", "response.done"]
    done = failed[-1]["response"]
    assert done["status"] == "failed" and done["output"] == [] and done["usage"] is None
    assert done["status_details"] == {"type": "failed", "error": FAILURES[kind]}
    assert (limits["rate_limits"][0]["remaining"] == 0) == (kind == "rate_limit")
    assert second["status"] == "completed"


@pytest.mark.parametrize("reason", ["content_filter", "max_output_tokens"])
async def test_an_incomplete_response_stops_half_way(serve: ServerFactory, reason: str) -> None:
    async with serve() as srv, client(srv.url) as rt:
        whole = (await _ask(rt))[-1]["response"]
    async with serve(fail=(ResponseFault(reason),)) as srv, client(srv.url) as rt:
        events = await _ask(rt)
    done = events[-1]["response"]
    assert done["status"] == "incomplete"
    assert done["status_details"] == {"type": "incomplete", "reason": reason}
    (item,) = done["output"]
    assert item["status"] == "incomplete"
    whole_words = whole["output"][0]["content"][0]["transcript"].split()
    said = item["content"][0]["transcript"].split()
    assert said == whole_words[: len(whole_words) // 2]
    assert 0 < _audio_ms(events, item["id"]) < done["usage"]["output_tokens"] * 50
    assert done["usage"]["output_token_details"]["audio_tokens"] > 0


async def test_a_preamble_then_a_call_on_a_reasoning_model_marks_phases(
        serve: ServerFactory) -> None:
    async with serve(preamble="Let me check.", tool_call="get_weather") as srv, client(
            srv.url + "?model=gpt-realtime-2") as rt:
        await rt.send({"type": "session.update", "session": {"type": "realtime",
                                                             "tools": [TOOL]}})
        events = await _ask(rt, "weather in Oslo")
    done = events[-1]["response"]
    message, call = done["output"]
    assert (message["type"], message["phase"], message["status"]) == (
        "message", "commentary", "completed")
    assert message["content"] == [{"type": "output_audio", "transcript": "Let me check."}]
    assert call["type"] == "function_call" and call["name"] == "get_weather"
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert [(e["output_index"], e["item"]["type"]) for e in added] == [
        (0, "message"), (1, "function_call")]
    args = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert args["output_index"] == 1 and args["call_id"] == call["call_id"]
    assert _audio_ms(events, message["id"]) > 300


async def test_two_audio_messages_in_one_response(serve: ServerFactory) -> None:
    async with serve(script=("One moment. || It is sunny in Oslo.",)) as srv, client(
            srv.url) as rt:
        events = await _ask(rt)
    first, second = events[-1]["response"]["output"]
    assert "phase" not in first  # gpt-realtime is not a reasoning model
    assert [i["content"][0]["transcript"] for i in (first, second)] == [
        "One moment.", "It is sunny in Oslo."]
    assert _audio_ms(events, first["id"]) > 300 and _audio_ms(events, second["id"]) > 300
    audio_items = [e["item_id"] for e in events if e["type"] == "response.output_audio.delta"]
    cut = audio_items.index(second["id"])
    assert set(audio_items[:cut]) == {first["id"]} and set(audio_items[cut:]) == {second["id"]}


async def test_a_truncate_cuts_a_streaming_item_without_cancelling_its_response(
        serve: ServerFactory) -> None:
    async with serve(pace=2.0, burst_ms=0) as srv, client(srv.url) as rt:
        await _start(rt)
        first = await rt.wait_for("response.output_audio.delta")
        await rt.send({"type": "conversation.item.truncate", "item_id": first["item_id"],
                       "content_index": 0, "audio_end_ms": 50})
        await rt.wait_for("conversation.item.truncated")
        done = (await rt.wait_for("response.done"))["response"]
        await rt.send({"type": "conversation.item.retrieve", "item_id": first["item_id"]})
        kept = (await rt.wait_for("conversation.item.retrieved"))["item"]
    assert done["status"] == "completed"  # no source says the service cancels it
    assert _audio_ms(rt.events, first["item_id"]) > 1000  # the answer streamed on
    assert kept["content"][0]["transcript"] is None
    assert bytes_to_ms(len(base64.b64decode(kept["content"][0]["audio"]))) == 50


async def test_a_truncate_before_any_audio_is_refused(serve: ServerFactory) -> None:
    async with serve(first_audio_delay_ms=3000) as srv, client(srv.url) as rt:
        await _start(rt)
        part = await rt.wait_for("response.content_part.added")
        await rt.send({"type": "conversation.item.truncate", "item_id": part["item_id"],
                       "content_index": 0, "audio_end_ms": 0})
        error = await rt.error()
        await rt.send({"type": "conversation.item.delete", "item_id": part["item_id"]})
        deleted = await rt.wait_for("conversation.item.deleted")
    assert (error["code"], error["message"]) == (
        "unsupported_content_type", "Only model output audio messages can be truncated")
    assert deleted["item_id"] == part["item_id"]


async def test_the_transcript_runs_ahead_of_the_audio(serve: ServerFactory) -> None:
    async with serve(chunk_ms=400) as srv, client(srv.url) as rt:
        events = await _ask(rt)
    kinds = [e["type"] for e in events]
    first_audio = kinds.index("response.output_audio.delta")
    words_before = [e for e in events[:first_audio]
                    if e["type"] == "response.output_audio_transcript.delta"]
    total_words = kinds.count("response.output_audio_transcript.delta")
    audio_chunks = kinds.count("response.output_audio.delta")
    # one chunk's share of the words, plus a lead of one 400 ms chunk
    assert len(words_before) >= min(total_words, 2 * total_words // audio_chunks)


async def test_drop_on_cuts_the_socket_after_that_event(serve: ServerFactory) -> None:
    async with serve(drop_on="response.output_audio.done") as srv, client(srv.url) as rt:
        await _start(rt)
        with pytest.raises(ConnectionClosedError):
            while True:
                await rt.recv(within=10)
    assert rt.types()[-1] == "response.output_audio.done"
    assert rt.ws.close_code == 1006


async def test_a_seed_repeats_the_ids(serve: ServerFactory) -> None:
    sessions = []
    for _ in range(2):
        async with serve(seed=7) as srv, client(srv.url) as rt:
            sessions.append(rt.events[0]["session"]["id"])
    assert sessions[0] == sessions[1]


async def test_the_official_sdk_client_holds_a_turn(serve: ServerFactory) -> None:
    from openai import AsyncOpenAI

    async with serve() as srv:
        base = srv.url.replace("ws://", "http://").removesuffix("/realtime")
        sdk = AsyncOpenAI(api_key="sk-test-sdk", base_url=base)
        async with sdk.realtime.connect(model="gpt-realtime") as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["audio"]})
            await conn.conversation.item.create(item={
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "Say hello"}]})
            await conn.response.create()
            seen = []
            async for event in conn:
                seen.append(event.type)
                if event.type == "response.done":
                    done = event
                    break
    assert seen[0] == "session.created" and "response.output_audio.delta" in seen
    assert done.response.status == "completed"
    assert done.response.output and done.response.output[0].type == "message"
    assert [e["type"] for _, e in srv.received][:3] == [
        "session.update", "conversation.item.create", "response.create"]
