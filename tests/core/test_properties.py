"""Property tests: random interleavings of server events, microphone frames, playback progress,
user commands, tool results, connection changes and ticks.

The core must never crash, every event it sends must be GA-conformant JSON (openai models plus
the strict unknown-key check), a truncate must never claim more audio than was played or
received for that item (nor be sent when nothing was played), and after a Tick at `now` the
next deadline must lie in the future (or the driver would spin).

The server side is a small generator of realistic GA frames (ids from small pools, so events
about the current response, stale ones and odd orders all occur), plus malformed and unknown
frames. The playback side is a FIFO player that reports what it really consumed.
"""

from __future__ import annotations

import base64
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from conformance import validate_client_json
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from realtime_cli.clock import ManualClock
from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.config import SessionConfig, ToolSpec
from realtime_cli.core.session import SessionCore
from realtime_cli.core.states import SessionState
from realtime_cli.protocol import openai_ga as codec

USER_ITEMS = ["item_u1", "item_u2", "item_u3"]
CALLS = ["call_1", "call_2"]
TEXTS = ["hello", "stop", "okay stop", "what is the weather", "wait", "", "thanks a lot"]
# Weighted by repetition: fatal outcomes are rare so that sessions live long enough.
ERROR_CODES = [None, "session_expired", "response_cancel_not_active",
               "conversation_already_has_active_response", "input_audio_buffer_commit_empty",
               "invalid_value", "unsupported_content_type"] * 3 + ["invalid_api_key",
                                                                   "unknown_parameter"]
CLOSE_CODES = [None, 1001, 1006, 1011] * 3 + [1000, 1008, 4000]
ACTIONS = [a for a in inp.Action if a is not inp.Action.QUIT] * 4 + [inp.Action.QUIT]


@dataclass
class Sim:
    """The driver around the core: clock, socket, player and the facts the checks need."""

    clock: ManualClock
    core: SessionCore
    connect_pending: bool = False
    socket_open: bool = False
    queue: deque[list[Any]] = field(default_factory=deque)  # [item_id, samples left]
    played: dict[str, int] = field(default_factory=dict)  # samples really played per item
    received: dict[str, int] = field(default_factory=dict)  # samples given to Play per item
    tools: list[str] = field(default_factory=list)
    response: str = "resp_1"
    item: str = "item_a1"  # the assistant item being streamed now
    items: list[str] = field(default_factory=lambda: ["item_a1"])  # every assistant item so far
    responses: list[str] = field(default_factory=lambda: ["resp_1"])
    user_item: str = "item_u1"
    shut_down: bool = False
    muted: bool = False  # what the user's mute commands should have left
    seen: set[str] = field(default_factory=set)  # what happened, for hypothesis statistics

    def feed(self, event: inp.Input) -> None:
        note(f"{event!r}"[:200])
        closed_before = self.core.state is SessionState.CLOSED
        if isinstance(event, inp.UserCommand) and self.core.lifecycle.is_active():
            self.muted = {inp.Action.MUTE: True, inp.Action.UNMUTE: False,
                          inp.Action.TOGGLE_MUTE: not self.muted}.get(event.action, self.muted)
        out = self.core.handle(event)
        for command in out:
            self.check(command)
        if closed_before:
            assert self.core.state is SessionState.CLOSED, "CLOSED must be terminal"
        if isinstance(event, inp.Tick):
            self.settle(event.now)

    def settle(self, now: float) -> None:
        """No spinning: a deadline at or before `now` must go away within a few more ticks
        (one tick's work, e.g. a response timeout, may make another deadline due at once)."""
        for _ in range(3):
            deadline = self.core.next_deadline()
            if deadline is None or deadline > now:
                return
            for command in self.core.handle(inp.Tick(now=now)):
                self.check(command)
        deadline = self.core.next_deadline()
        assert deadline is None or deadline > now, (
            f"next_deadline {deadline} stays at or before {now} however often it ticks")

    def check(self, command: cmd.Command) -> None:
        self.seen.add(type(command).__name__ if not isinstance(command, cmd.Send)
                      else command.event.type)
        match command:
            case cmd.Send(event=event):
                validate_client_json(codec.encode(event))
                if event.type == "conversation.item.truncate":
                    item = event.item_id
                    played, received = self.played.get(item, 0), self.received.get(item, 0)
                    assert played > 0, f"truncate of {item} but nothing of it was played"
                    assert 0 <= event.audio_end_ms * 24 <= min(played, received), (
                        f"truncate {item} at {event.audio_end_ms} ms; played {played}, "
                        f"received {received} samples")
            case cmd.Play(item_id=item, pcm=pcm):
                samples = len(pcm) // 2
                self.received[item] = self.received.get(item, 0) + samples
                self.queue.append([item, samples])
            case cmd.FlushPlayback():
                self.queue.clear()
            case cmd.Connect():
                self.connect_pending = True
                self.socket_open = False
            case cmd.RunTool(call_id=call_id):
                self.tools.append(call_id)
            case cmd.Shutdown(reason=reason):
                self.shut_down = True
                self.seen.add("shutdown: " + reason.split(":")[0][:40])
            case _:
                pass

    def play(self, samples: int) -> None:
        """The player consumes `samples` from its FIFO and reports what it played."""
        current: str | None = None
        while samples > 0 and self.queue:
            chunk = self.queue[0]
            take = min(samples, chunk[1])
            chunk[1] -= take
            samples -= take
            current = chunk[0]
            self.played[current] = self.played.get(current, 0) + take
            if chunk[1] == 0:
                self.queue.popleft()
        if current is None and self.queue:
            current = self.queue[0][0]
        self.feed(inp.Playback(now=self.clock.monotonic(), item_id=current,
                               played_samples=self.played.get(current, 0) if current else 0,
                               idle=not self.queue))


# --------------------------------------------------------------------------- server frames


def _b64_audio(samples: int) -> str:
    return base64.b64encode(b"\x10\x00" * samples).decode()


def server_frame(data: st.DataObject, sim: Sim) -> str | bytes:
    draw = data.draw
    kind = draw(st.sampled_from([
        "speech_started", "speech_stopped", "committed", "user_transcript", "user_delta",
        "speech_started", "response_created", "response_created", "item_added", "item_added",
        "call_added", "content_part", "audio", "audio", "audio", "audio", "transcript_delta",
        "audio_done", "transcript_done", "item_done", "call_done",
        "response_done", "truncated", "error", "rate_limits", "session_created",
        "session_updated", "conversation_item", "cleared", "timeout", "transcription_failed",
        "malformed", "unknown",
    ]))
    response, item_id = sim.response, sim.item
    if draw(st.integers(0, 9)) == 0:  # now and then, a stale or unknown response or item
        response = draw(st.sampled_from([*sim.responses, "resp_zz"]))
        item_id = draw(st.sampled_from([*sim.items, "item_zz"]))
    where = {"response_id": response, "item_id": item_id, "output_index": 0,
             "content_index": 0}
    # A server streams one item's audio at a time: audio deltas are for the current item only.
    audio_where = {**where, "response_id": sim.response, "item_id": sim.item}
    frame: dict[str, Any]
    match kind:
        case "speech_started":
            sim.user_item = draw(st.sampled_from(USER_ITEMS))
            frame = {"type": "input_audio_buffer.speech_started", "item_id": sim.user_item,
                     "audio_start_ms": draw(st.integers(0, 60_000))}
        case "speech_stopped":
            frame = {"type": "input_audio_buffer.speech_stopped", "item_id": sim.user_item,
                     "audio_end_ms": draw(st.integers(0, 60_000))}
        case "committed":
            frame = {"type": "input_audio_buffer.committed", "item_id": sim.user_item,
                     "previous_item_id": None}
        case "user_transcript":
            frame = {"type": "conversation.item.input_audio_transcription.completed",
                     "item_id": draw(st.sampled_from([sim.user_item, *USER_ITEMS])),
                     "content_index": 0, "transcript": draw(st.sampled_from(TEXTS)),
                     "usage": {"type": "duration", "seconds": 1.0}}
        case "user_delta":
            frame = {"type": "conversation.item.input_audio_transcription.delta",
                     "item_id": sim.user_item, "delta": "he", "obfuscation": "x"}
        case "response_created":
            sim.response = f"resp_{len(sim.responses) + 1}"
            sim.responses.append(sim.response)
            frame = {"type": "response.created", "response": {
                "object": "realtime.response", "id": sim.response, "status": "in_progress",
                "output": []}}
        case "item_added":
            sim.item = f"item_a{len(sim.items) + 1}"
            sim.items.append(sim.item)
            frame = {"type": "response.output_item.added", "response_id": sim.response,
                     "output_index": 0, "item": {"id": sim.item, "type": "message",
                                                 "role": "assistant", "status": "in_progress",
                                                 "content": []}}
        case "call_added" | "call_done":
            call = draw(st.sampled_from(CALLS))
            item = {"id": f"item_f{call[-1]}", "type": "function_call", "call_id": call,
                    "name": draw(st.sampled_from(["get_weather", "end_conversation"])),
                    "arguments": "{}" if kind == "call_done" else "",
                    "status": "completed" if kind == "call_done" else "in_progress"}
            if kind == "call_done" and draw(st.booleans()):
                frame = {"type": "response.function_call_arguments.done",
                         "response_id": sim.response, "item_id": item["id"], "output_index": 0,
                         "call_id": call, "name": item["name"], "arguments": "{}"}
            else:
                frame = {"type": "response.output_item." + ("done" if kind == "call_done"
                                                            else "added"),
                         "response_id": sim.response, "output_index": 0, "item": item}
        case "content_part":
            frame = {"type": "response.content_part.added", **where,
                     "part": {"type": "audio", "transcript": ""}}
        case "audio":
            frame = {"type": "response.output_audio.delta", **audio_where,
                     "delta": _b64_audio(draw(st.integers(1, 4800)))}
        case "transcript_delta":
            frame = {"type": "response.output_audio_transcript.delta", **where,
                     "delta": draw(st.sampled_from(["Hi ", "there ", "friend. "])),
                     "obfuscation": "abc"}
        case "audio_done":
            frame = {"type": "response.output_audio.done", **where}
        case "transcript_done":
            frame = {"type": "response.output_audio_transcript.done", **where,
                     "transcript": "Hi there friend."}
        case "item_done":
            frame = {"type": "response.output_item.done", "response_id": response,
                     "output_index": 0, "item": {
                         "id": item_id, "type": "message", "role": "assistant",
                         "status": draw(st.sampled_from(["completed", "incomplete"])),
                         "content": [{"type": "output_audio", "transcript": "Hi there."}]}}
        case "response_done":
            status = draw(st.sampled_from(["completed", "cancelled", "incomplete", "failed"]))
            frame = {"type": "response.done", "response": {
                "object": "realtime.response", "id": response, "status": status,
                "status_details": None if status == "completed" else {
                    "type": status, "reason": "turn_detected"},
                "output": [], "usage": {"input_tokens": 10, "output_tokens": 5}}}
        case "truncated":
            frame = {"type": "conversation.item.truncated", "item_id": item_id,
                     "content_index": 0, "audio_end_ms": draw(st.integers(0, 5000))}
        case "error":
            frame = {"type": "error", "error": {
                "type": "invalid_request_error", "code": draw(st.sampled_from(ERROR_CODES)),
                "message": "something", "param": draw(st.sampled_from([None, "session.type"])),
                "event_id": draw(st.sampled_from([None, "rt_cfg_1", "rt_resp_2"]))}}
        case "session_created":
            frame = {"type": "session.created", "session": {
                "type": "realtime", "object": "realtime.session", "id": "sess_1",
                "expires_at": int(sim.clock.wall() + draw(st.integers(-10, 4000)))}}
        case "session_updated":
            frame = {"type": "session.updated", "session": {"type": "realtime"}}
        case "conversation_item":
            frame = {"type": draw(st.sampled_from(["conversation.item.added",
                                                   "conversation.item.done",
                                                   "conversation.item.created"])),
                     "previous_item_id": None,
                     "item": {"id": sim.user_item, "type": "message", "role": "user",
                              "content": [{"type": "input_audio", "transcript": None}]}}
        case "cleared":
            frame = {"type": "input_audio_buffer.cleared"}
        case "timeout":
            frame = {"type": "input_audio_buffer.timeout_triggered", "item_id": sim.user_item,
                     "audio_start_ms": 100, "audio_end_ms": 6000}
        case "transcription_failed":
            frame = {"type": "conversation.item.input_audio_transcription.failed",
                     "item_id": sim.user_item, "content_index": 0,
                     "error": {"type": "x", "message": "unintelligible"}}
        case "malformed":
            return draw(st.sampled_from([
                b"\x00\xff", "{", "[]", '{"type": 1}', '{"type":"response.done"}',
                '{"type":"response.output_audio.delta","response_id":"r","item_id":"i",'
                '"delta":"@@"}',
                '{"type":"input_audio_buffer.speech_started","item_id":"i",'
                '"audio_start_ms":"soon"}',
            ]))
        case _:
            frame = {"type": draw(st.sampled_from(["mcp_list_tools.completed",
                                                   "output_audio_buffer.started",
                                                   "response.audio.delta", "x.new"]))}
    frame["event_id"] = "event_x"
    return json.dumps(frame)


# --------------------------------------------------------------------------- the property

CONFIGS = st.builds(
    SessionConfig,
    turn_detection=st.sampled_from(["server_vad", "semantic_vad", "none"]),
    interrupt_response=st.booleans(), create_response=st.booleans(),
    transcription_model=st.sampled_from([None, "gpt-4o-mini-transcribe"]),
    builtin_end_tool=st.booleans(),
    tools=st.sampled_from([(), (ToolSpec(name="get_weather"),)]),
    idle_timeout_s=st.sampled_from([None, None, 30.0]),
    total_timeout_s=st.sampled_from([None, None, 600.0]),
    response_timeout_s=st.sampled_from([5.0, 20.0]),
    rollover_margin_s=st.sampled_from([0.0, 120.0]),
    max_reconnect_attempts=st.sampled_from([0, 3, 3, 6]),
)

STEPS = ["server"] * 12 + ["mic", "mic", "play", "play", "play", "play", "tick", "tick",
                            "user", "tool", "connect", "connect"] + ["drop"]


def run_session(config: SessionConfig, data: st.DataObject, steps: int) -> Sim:
    clock = ManualClock()
    core = SessionCore(config, session_id="prop0001", now=clock.monotonic(),
                       jitter=lambda: 0.5)
    sim = Sim(clock=clock, core=core)
    sim.feed(inp.Begin(now=clock.monotonic(), wall=clock.wall()))
    # Usually connect properly first, so that the random part starts from a live session.
    if data.draw(st.integers(0, 9)) > 0:
        sim.feed(inp.Opened(now=clock.monotonic()))
        sim.connect_pending, sim.socket_open = False, True
        for text in (json.dumps({"type": "session.created", "event_id": "e", "session": {
                "type": "realtime", "id": "sess_0",
                "expires_at": int(clock.wall() + 3600)}}),
                     json.dumps({"type": "session.updated", "event_id": "e",
                                 "session": {"type": "realtime"}})):
            sim.feed(inp.ServerMessage(now=clock.monotonic(), event=codec.decode(text)))
    for _ in range(steps):
        if sim.shut_down:
            break
        step = data.draw(st.sampled_from(STEPS))
        now = clock.monotonic()
        match step:
            case "server":
                frame = server_frame(data, sim)
                sim.feed(inp.ServerMessage(now=now, event=codec.decode(frame)))
            case "mic":
                ms = data.draw(st.sampled_from([0, 10, 20, 40]))
                sim.feed(inp.MicAudio(now=now, pcm=b"\x01\x02" * (24 * ms)))
            case "play":
                sim.play(data.draw(st.integers(0, 9600)))
            case "tick":
                clock.advance(data.draw(st.sampled_from([0.0, 0.02, 0.02, 1.0, 1.0, 7.0, 31.0,
                                                         200.0])))
                deadline = core.next_deadline()
                if deadline is not None and data.draw(st.booleans()):
                    clock.advance(max(0.0, deadline - clock.monotonic()))
                sim.feed(inp.Tick(now=clock.monotonic()))
            case "user":
                action = data.draw(st.sampled_from(ACTIONS))
                text = data.draw(st.sampled_from(["hi there", "stop", "", "  "]))
                sim.feed(inp.UserCommand(now=now, action=action, text=text))
            case "tool":
                call = data.draw(st.sampled_from([*sim.tools, "call_bogus"]))
                sim.feed(inp.ToolOutput(now=now, call_id=call, output='{"ok":1}'))
            case "connect":
                if sim.connect_pending:
                    sim.connect_pending = False
                    if data.draw(st.integers(0, 7)) == 0:
                        sim.feed(inp.ConnectFailed(now=now, message="refused",
                                                   fatal=data.draw(st.integers(0, 4)) == 0))
                    else:
                        sim.socket_open = True
                        sim.feed(inp.Opened(now=now))
            case _:
                if sim.socket_open:
                    sim.socket_open = False
                    sim.feed(inp.Closed(now=now, code=data.draw(st.sampled_from(CLOSE_CODES))))
    return sim


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONFIGS, st.data())
def test_random_sessions_never_crash_send_conformant_events_and_truncate_honestly(
        config: SessionConfig, data: st.DataObject) -> None:
    sim = run_session(config, data, steps=60)
    for what in ("Play", "FlushPlayback", "conversation.item.truncate", "response.cancel",
                 "RunTool", "Connect", "Shutdown", "conversation.item.create"):
        event(f"{what}: {what in sim.seen}")
    for what in sim.seen:
        if what.startswith("shutdown"):
            event(what)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CONFIGS, st.data())
def test_long_random_sessions(config: SessionConfig, data: st.DataObject) -> None:
    sim = run_session(config, data, steps=250)
    snapshot = sim.core.snapshot(sim.clock.monotonic())
    # The picture the dashboard draws agrees with what the driver saw happen.
    assert not snapshot.connected or sim.socket_open, "connected without an open socket"
    assert snapshot.muted is sim.muted
    for line in snapshot.transcript:
        assert line.heard_chars is None or 0 <= line.heard_chars <= len(line.text)
        if line.interrupted:
            assert line.role == "assistant" and line.heard_chars is not None
