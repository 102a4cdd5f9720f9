"""Test helpers: a scripted GA server peer, a core harness and whole-list command assertions.

Helpers drain everything: `assert_commands` compares the *whole* command
list, so a test also proves that nothing extra was emitted; `assert_effects` does the same for
the effects that reach the outside world (sends, playback, tools, connects, shutdown), leaving
out the bookkeeping (`Journal`, `StatusChanged`, `Notice`) that has its own assertions.

Public API (import from tests as `from helpers import ...`):

    ScriptedPeer(clock, *, validate=True)
        Builds realistic GA server events as JSON dicts, checks them against the openai models
        (`conformance.validate_server_event`, where the SDK models the type), ENCODES them to
        JSON text and decodes them with `codec.decode`, returning `ServerMessage` inputs stamped
        with `clock.monotonic()`. Every method returns `list[ServerMessage]`; `peer.wire` keeps
        every JSON text produced, in order (for adapters and servers: `peer.take_wire()`).
        Scripts: `session_created`, `session_updated`, `speech_started`, `speech_stopped`,
        `committed`, `user_transcript`, `user_turn`, `response_created`, `audio_item`,
        `audio`, `transcript`, `item_done`, `response_done`, `response`, `function_call`,
        `truncated`, `error`, `session_expired`, `rate_limits`, `cleared`, `unknown`, `raw`.
        State for assertions: `peer.response_id`, `peer.item_id` (current assistant item),
        `peer.user_item_id`. `session_object()` is the GA session dict `session.created` uses.
    Harness(config=None, *, session_id, start=1000.0, jitter=0.5, **core_kwargs)
        A `SessionCore` on a `ManualClock` with a `ScriptedPeer` (`h.core`, `h.clock`,
        `h.peer`, `h.log` = every command so far); `core_kwargs` go to `SessionCore`
        (`history`, `resumed`, `keep_audio`, ...). `feed(*inputs)` runs inputs
        through `core.handle`, checks every `Send` against the SDK models (JSON encoding, strict
        unknown-key check) and returns the commands. Shortcuts: `begin`, `open`, `ready`
        (connect to READY), `reconnect`, `mic`, `play`, `user`, `tool_output`, `close`,
        `advance`, `tick`, `tick_to_deadline`.
    drive(core, *inputs, check=True) -> list[Command]
    check_sends(commands)                 every Send encodes to SDK-conformant JSON
    assert_commands(actual, *expected, ignore=())
    assert_effects(actual, *expected)     = assert_commands(..., ignore=BOOKKEEPING)
    Sent(type, **fields), Like(cls, **fields)   matchers for the two assertions
    sends(commands), sent_types(commands), of_type(commands, cls), records(commands, cls)
    pcm(ms, value=1000)                   24 kHz PCM16 mono of a constant non-zero value
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from conformance import SERVER_EVENT_MODELS, validate_client_json, validate_server_event

from realtime_cli.clock import ManualClock
from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.session import SessionCore
from realtime_cli.protocol import events as ev
from realtime_cli.protocol import openai_ga as codec

T = TypeVar("T")
BOOKKEEPING: tuple[type, ...] = (cmd.Journal, cmd.StatusChanged, cmd.Notice, cmd.EndOfAudio)
SAMPLES_PER_MS = 24


def pcm(ms: float, value: int = 1000) -> bytes:
    """`ms` of 24 kHz mono PCM16 holding one constant non-zero sample value."""
    return int(value).to_bytes(2, "little", signed=True) * int(ms * SAMPLES_PER_MS)


# --------------------------------------------------------------------------- command views


def sends(commands: Iterable[cmd.Command]) -> list[ev.ClientEvent]:
    """The client events of every `Send`, in order."""
    return [c.event for c in commands if isinstance(c, cmd.Send)]


def sent_types(commands: Iterable[cmd.Command]) -> list[str]:
    return [e.type for e in sends(commands)]


def of_type(commands: Iterable[Any], cls: type[T]) -> list[T]:
    return [c for c in commands if isinstance(c, cls)]


def records(commands: Iterable[cmd.Command], cls: type[T]) -> list[T]:
    """The journal records of class `cls`, in order."""
    return [c.record for c in commands if isinstance(c, cmd.Journal) and isinstance(c.record, cls)]


def check_sends(commands: Iterable[cmd.Command]) -> None:
    """Every `Send` must encode to JSON the openai models accept, with no unknown key."""
    for c in commands:
        if isinstance(c, cmd.Send):
            validate_client_json(codec.encode(c.event))


def drive(core: SessionCore, *inputs: inp.Input, check: bool = True) -> list[cmd.Command]:
    """Feed `inputs` in order and return all commands; conformance-check sends by default."""
    out: list[cmd.Command] = []
    for i in inputs:
        out.extend(core.handle(i))
    if check:
        check_sends(out)
    return out


# --------------------------------------------------------------------------- matchers


@dataclass(frozen=True, init=False)
class Sent:
    """Matches `Send(event)` whose wire `type` is `type` and whose fields equal `fields`."""

    type: str
    fields: dict[str, Any]

    def __init__(self, type: str, **fields: Any) -> None:
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "fields", fields)

    def matches(self, command: object) -> bool:
        if not isinstance(command, cmd.Send) or command.event.type != self.type:
            return False
        return all(getattr(command.event, k, _MISSING) == v for k, v in self.fields.items())

    def __repr__(self) -> str:
        extra = "".join(f" {k}={v!r}" for k, v in self.fields.items())
        return f"Sent({self.type}{extra})"


@dataclass(frozen=True, init=False)
class Like:
    """Matches any instance of `cls` whose attributes equal `fields`."""

    cls: type
    fields: dict[str, Any] = field(default_factory=dict)

    def __init__(self, cls: type, **fields: Any) -> None:
        object.__setattr__(self, "cls", cls)
        object.__setattr__(self, "fields", fields)

    def matches(self, command: object) -> bool:
        return isinstance(command, self.cls) and all(
            getattr(command, k, _MISSING) == v for k, v in self.fields.items()
        )

    def __repr__(self) -> str:
        extra = "".join(f" {k}={v!r}" for k, v in self.fields.items())
        return f"Like({self.cls.__name__}{extra})"


_MISSING = object()


def _matches(expected: Any, command: object) -> bool:
    if isinstance(expected, Sent | Like):
        return expected.matches(command)
    if isinstance(expected, type):
        return isinstance(command, expected)
    return bool(expected == command)


def describe(command: object) -> str:
    """One short line per command for failure messages (no audio bytes)."""
    if isinstance(command, cmd.Send):
        data = codec.to_dict(command.event)
        if "audio" in data:
            data["audio"] = f"<{len(base64.b64decode(data['audio'])) // 2} samples>"
        return f"Send {json.dumps(data)[:200]}"
    if isinstance(command, cmd.Play):
        return f"Play(item_id={command.item_id!r}, {len(command.pcm) // 2} samples)"
    if isinstance(command, cmd.Journal):
        return f"Journal({type(command.record).__name__})"
    if isinstance(command, cmd.StatusChanged):
        return f"StatusChanged({command.old.value} -> {command.new.value}: {command.reason})"
    return repr(command)


def assert_commands(actual: Sequence[object], *expected: Any,
                    ignore: tuple[type, ...] = ()) -> None:
    """The whole command list, in order, matches `expected` (instances, classes, Sent, Like).

    Commands whose class is in `ignore` are dropped first; nothing else may be left over.
    """
    got = [c for c in actual if not (ignore and isinstance(c, ignore))]
    ok = len(got) == len(expected) and all(_matches(e, c) for e, c in zip(expected, got,
                                                                           strict=True))
    if not ok:
        lines = ["commands differ", "expected:"]
        lines += [f"  {e!r}" if isinstance(e, Sent | Like) else f"  {describe(e)}"
                  for e in expected]
        lines.append("got:")
        lines += [f"  {describe(c)}" for c in got]
        raise AssertionError("\n".join(lines))


def assert_effects(actual: Sequence[object], *expected: Any) -> None:
    """`assert_commands` without the bookkeeping commands (Journal, StatusChanged, Notice)."""
    assert_commands(actual, *expected, ignore=BOOKKEEPING)


# --------------------------------------------------------------------------- scripted peer


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class ScriptedPeer:
    """A GA Realtime server in script form: each call returns the `ServerMessage`s it sends.

    Every event is built as the real GA server sends it (docs/protocol.md: `conversation.item
    .added/.done`, content parts typed "audio", `obfuscation` on deltas, null
    `error.event_id`), validated against the SDK models when `validate` is on, encoded to JSON
    and decoded by `codec.decode`, so the core sees exactly what the real adapter would give it.
    Ids are deterministic: `item_u1`, `item_a1`, `resp_1`, `call_1`, `event_1`...
    """

    def __init__(self, clock: ManualClock, *, validate: bool = True,
                 voice: str = "marin") -> None:
        self.clock = clock
        self.validate = validate
        self.voice = voice
        self.wire: list[str] = []
        self._counters: dict[str, int] = {}
        self.response_id: str | None = None
        self.item_id: str | None = None  # current assistant item
        self.user_item_id: str | None = None
        self.last_item_id: str | None = None  # for previous_item_id
        self._output: list[dict[str, Any]] = []  # items of the current response
        self._transcript = ""
        self._audio_samples = 0

    # ----------------------------------------------------------------- plumbing

    def _id(self, prefix: str) -> str:
        n = self._counters[prefix] = self._counters.get(prefix, 0) + 1
        return f"{prefix}{n}"

    def _emit(self, *frames: dict[str, Any]) -> list[inp.ServerMessage]:
        out: list[inp.ServerMessage] = []
        for frame in frames:
            frame = {"event_id": self._id("event_"), **frame}
            if self.validate and frame["type"] in SERVER_EVENT_MODELS:
                validate_server_event(frame)
            text = json.dumps(frame)
            event = codec.decode(text)
            assert not isinstance(event, ev.MalformedServerEvent | ev.UnknownServerEvent), (
                f"scripted frame did not decode: {event}")
            out.append(self._message(text, event))
        return out

    def _message(self, text: str, event: ev.ServerEvent) -> inp.ServerMessage:
        self.wire.append(text)
        return inp.ServerMessage(now=self.clock.monotonic(), event=event)

    def raw(self, frame: dict[str, Any] | str | bytes) -> list[inp.ServerMessage]:
        """Any frame at all (malformed, binary, unknown), decoded without checks."""
        text = json.dumps(frame) if isinstance(frame, dict) else frame
        event = codec.decode(text)
        if isinstance(text, str):
            self.wire.append(text)
        return [inp.ServerMessage(now=self.clock.monotonic(), event=event)]

    def take_wire(self) -> list[str]:
        """The JSON texts produced since the last call."""
        out, self.wire = self.wire, []
        return out

    # ----------------------------------------------------------------- session

    def session_object(self, *, expires_in: float | None = 3600.0,
                       turn_detection: dict[str, Any] | None | str = "default",
                       instructions: str = "You are a helpful assistant.") -> dict[str, Any]:
        """The GA session object as `session.created` shows it, with the service's observed
        defaults (docs/protocol.md#session-configuration)."""
        if turn_detection == "default":
            turn_detection = {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300,
                              "silence_duration_ms": 200, "idle_timeout_ms": None,
                              "create_response": True, "interrupt_response": True}
        session: dict[str, Any] = {
            "type": "realtime", "object": "realtime.session", "id": "sess_Cabc123",
            "model": "gpt-realtime-2025-08-28", "output_modalities": ["audio"],
            "instructions": instructions, "tools": [], "tool_choice": "auto",
            "max_output_tokens": "inf", "tracing": None, "truncation": "auto", "prompt": None,
            "include": None,
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": None,
                          "noise_reduction": None, "turn_detection": turn_detection},
                "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy",
                           "speed": 1.0},
            },
        }
        if expires_in is not None:
            session["expires_at"] = int(self.clock.wall() + expires_in)
        return session

    def session_created(self, *, expires_in: float | None = 3600.0) -> list[inp.ServerMessage]:
        """`session.created`; `expires_at` is `expires_in` seconds after the clock's wall time."""
        return self._emit({"type": "session.created",
                           "session": self.session_object(expires_in=expires_in)})

    def session_updated(self, session: dict[str, Any] | None = None) -> list[inp.ServerMessage]:
        """`session.updated` with the full effective config (no client `event_id`)."""
        body = session if session is not None else self.session_object(expires_in=None)
        return self._emit({"type": "session.updated", "session": body})

    # ----------------------------------------------------------------- user input

    def speech_started(self, audio_start_ms: int = 0,
                       item_id: str | None = None) -> list[inp.ServerMessage]:
        self.user_item_id = item_id or self._id("item_u")
        return self._emit({"type": "input_audio_buffer.speech_started",
                           "audio_start_ms": audio_start_ms, "item_id": self.user_item_id})

    def speech_stopped(self, audio_end_ms: int) -> list[inp.ServerMessage]:
        assert self.user_item_id, "speech_stopped before speech_started"
        return self._emit({"type": "input_audio_buffer.speech_stopped",
                           "audio_end_ms": audio_end_ms, "item_id": self.user_item_id})

    def committed(self, item_id: str | None = None) -> list[inp.ServerMessage]:
        """`input_audio_buffer.committed`, then the user item's `conversation.item.added/.done`
        (its transcript is null until transcription completes)."""
        item_id = item_id or self.user_item_id or self._id("item_u")
        self.user_item_id = item_id
        prev = self.last_item_id
        item = {"id": item_id, "type": "message", "object": "realtime.item", "role": "user",
                "status": "completed",
                "content": [{"type": "input_audio", "transcript": None}]}
        self.last_item_id = item_id
        return self._emit(
            {"type": "input_audio_buffer.committed", "previous_item_id": prev, "item_id": item_id},
            {"type": "conversation.item.added", "previous_item_id": prev, "item": item},
            {"type": "conversation.item.done", "previous_item_id": prev, "item": item},
        )

    def user_transcript(self, text: str, item_id: str | None = None) -> list[inp.ServerMessage]:
        """Transcription `delta` then `completed` for the user item."""
        item_id = item_id or self.user_item_id
        assert item_id, "no user item to transcribe"
        return self._emit(
            {"type": "conversation.item.input_audio_transcription.delta", "item_id": item_id,
             "content_index": 0, "delta": text, "obfuscation": "x3Zk"},
            {"type": "conversation.item.input_audio_transcription.completed", "item_id": item_id,
             "content_index": 0, "transcript": text,
             "usage": {"type": "tokens", "input_tokens": 12, "output_tokens": 4,
                       "total_tokens": 16,
                       "input_token_details": {"audio_tokens": 12, "text_tokens": 0}}},
        )

    def user_turn(self, start_ms: int, end_ms: int,
                  transcript: str | None = None) -> list[inp.ServerMessage]:
        """Server VAD: speech_started, speech_stopped, committed (and the transcript)."""
        out = self.speech_started(start_ms) + self.speech_stopped(end_ms) + self.committed()
        if transcript is not None:
            out += self.user_transcript(transcript)
        return out

    def cleared(self) -> list[inp.ServerMessage]:
        return self._emit({"type": "input_audio_buffer.cleared"})

    # ----------------------------------------------------------------- responses

    def _response_object(self, status: str, output: list[dict[str, Any]],
                         status_details: dict[str, Any] | None,
                         usage: dict[str, Any] | None) -> dict[str, Any]:
        return {"object": "realtime.response", "id": self.response_id, "status": status,
                "status_details": status_details, "output": output,
                "conversation_id": "conv_Cabc123", "output_modalities": ["audio"],
                "max_output_tokens": "inf",
                "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000},
                                     "voice": self.voice}},
                "usage": usage, "metadata": None}

    def response_created(self, response_id: str | None = None) -> list[inp.ServerMessage]:
        self.response_id = response_id or self._id("resp_")
        self._output = []
        return self._emit({"type": "response.created",
                           "response": self._response_object("in_progress", [], None, None)})

    def _where(self) -> dict[str, Any]:
        assert self.response_id and self.item_id, "no response item in progress"
        return {"response_id": self.response_id, "item_id": self.item_id,
                "output_index": len(self._output), "content_index": 0}

    def audio_item(self, item_id: str | None = None) -> list[inp.ServerMessage]:
        """An assistant audio item starts: output_item.added, item.added, content_part.added
        (the part is typed "audio", not "output_audio", as the service sends it)."""
        assert self.response_id, "audio_item before response_created"
        self.item_id = item_id or self._id("item_a")
        self._transcript, self._audio_samples = "", 0
        item = {"id": self.item_id, "type": "message", "object": "realtime.item",
                "status": "in_progress", "role": "assistant", "content": []}
        prev, self.last_item_id = self.last_item_id, self.item_id
        return self._emit(
            {"type": "response.output_item.added", "response_id": self.response_id,
             "output_index": len(self._output), "item": item},
            {"type": "conversation.item.added", "previous_item_id": prev, "item": item},
            {"type": "response.content_part.added", **self._where(),
             "part": {"type": "audio", "transcript": ""}},
        )

    def audio(self, ms: float, *, chunk_ms: float = 100.0,
              value: int = 1000) -> list[inp.ServerMessage]:
        """`response.output_audio.delta` events carrying `ms` of audio in `chunk_ms` pieces."""
        total = int(ms * SAMPLES_PER_MS)
        step = max(1, int(chunk_ms * SAMPLES_PER_MS))
        frames = []
        for start in range(0, total, step):
            n = min(step, total - start)
            frames.append({"type": "response.output_audio.delta", **self._where(),
                           "delta": _b64(pcm(n / SAMPLES_PER_MS, value))})
        self._audio_samples += total
        return self._emit(*frames)

    def transcript(self, text: str) -> list[inp.ServerMessage]:
        """One `response.output_audio_transcript.delta` (with the GA `obfuscation` key)."""
        self._transcript += text
        return self._emit({"type": "response.output_audio_transcript.delta", **self._where(),
                           "delta": text, "obfuscation": "q9"})

    def item_done(self, transcript: str | None = None, *,
                  status: str = "completed") -> list[inp.ServerMessage]:
        """The `.done` events of the current audio item (sent even when interrupted)."""
        text = self._transcript if transcript is None else transcript
        item = {"id": self.item_id, "type": "message", "object": "realtime.item",
                "status": status, "role": "assistant",
                "content": [{"type": "output_audio", "transcript": text}]}
        where = self._where()
        self._output.append(item)
        return self._emit(
            {"type": "response.output_audio.done", **where},
            {"type": "response.output_audio_transcript.done", **where, "transcript": text},
            {"type": "response.content_part.done", **where,
             "part": {"type": "audio", "transcript": text}},
            {"type": "response.output_item.done", "response_id": self.response_id,
             "output_index": where["output_index"], "item": item},
            {"type": "conversation.item.done", "previous_item_id": None, "item": item},
        )

    def response_done(self, status: str = "completed", reason: str | None = None, *,
                      usage: dict[str, Any] | None = None) -> list[inp.ServerMessage]:
        """`response.done` with usage; `reason` goes to `status_details` (docs/protocol.md#truncation)."""
        details = None
        if status != "completed":
            details = {"type": status, "reason": reason}
        if usage is None:
            usage = {"total_tokens": 250, "input_tokens": 132, "output_tokens": 118,
                     "input_token_details": {"text_tokens": 59, "audio_tokens": 73,
                                             "image_tokens": 0, "cached_tokens": 64,
                                             "cached_tokens_details": {"text_tokens": 0,
                                                                       "audio_tokens": 64,
                                                                       "image_tokens": 0}},
                     "output_token_details": {"text_tokens": 22, "audio_tokens": 96}}
        frame = {"type": "response.done",
                 "response": self._response_object(status, list(self._output), details, usage)}
        return self._emit(frame)

    def response(self, *, audio_ms: float = 1000.0, transcript: str = "Hello there.",
                 done: bool = True, chunk_ms: float = 100.0) -> list[inp.ServerMessage]:
        """A whole audio response: created, the item, transcript and audio deltas interleaved,
        and (when `done`) the item's .done events and `response.done`."""
        out = self.response_created() + self.audio_item()
        words = transcript.split(" ") if transcript else []
        pieces = [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]
        chunks = max(1, int(audio_ms // chunk_ms))
        per = -(-len(pieces) // chunks) if pieces else 0
        sent = 0.0
        for i in range(chunks):
            ms = chunk_ms if i < chunks - 1 else audio_ms - sent
            if per:
                text = "".join(pieces[i * per:(i + 1) * per])
                if text:
                    out += self.transcript(text)
            if ms > 0:
                out += self.audio(ms, chunk_ms=chunk_ms)
            sent += ms
        if done:
            out += self.item_done() + self.response_done()
        return out

    def function_call(self, name: str, arguments: str = "{}", *, call_id: str | None = None,
                      item_id: str | None = None) -> list[inp.ServerMessage]:
        """A function_call item of the current response: added, arguments delta and done,
        output_item.done and item.done (both `.done`s name the call: docs/protocol.md#tool-calls)."""
        assert self.response_id, "function_call before response_created"
        call_id = call_id or self._id("call_")
        item_id = item_id or self._id("item_f")
        index = len(self._output)
        started = {"id": item_id, "type": "function_call", "object": "realtime.item",
                   "status": "in_progress", "name": name, "call_id": call_id, "arguments": ""}
        done = {**started, "status": "completed", "arguments": arguments}
        self._output.append(done)
        self.last_item_id = item_id
        where = {"response_id": self.response_id, "item_id": item_id, "output_index": index}
        return self._emit(
            {"type": "response.output_item.added", "response_id": self.response_id,
             "output_index": index, "item": started},
            {"type": "conversation.item.added", "previous_item_id": None, "item": started},
            {"type": "response.function_call_arguments.delta", **where, "call_id": call_id,
             "delta": arguments, "obfuscation": "a1"},
            {"type": "response.function_call_arguments.done", **where, "call_id": call_id,
             "name": name, "arguments": arguments},
            {"type": "response.output_item.done", "response_id": self.response_id,
             "output_index": index, "item": done},
            {"type": "conversation.item.done", "previous_item_id": None, "item": done},
        )

    # ----------------------------------------------------------------- other events

    def truncated(self, item_id: str, audio_end_ms: int) -> list[inp.ServerMessage]:
        return self._emit({"type": "conversation.item.truncated", "item_id": item_id,
                           "content_index": 0, "audio_end_ms": audio_end_ms})

    def error(self, code: str | None, message: str = "error", *,
              type: str = "invalid_request_error",
              param: str | None = None, event_id: str | None = None) -> list[inp.ServerMessage]:
        """An `error` event; `error.event_id` is null unless given (docs/protocol.md#errors)."""
        return self._emit({"type": "error", "error": {"type": type, "code": code,
                                                      "message": message, "param": param,
                                                      "event_id": event_id}})

    def session_expired(self) -> list[inp.ServerMessage]:
        return self.error("session_expired",
                          "Your session hit the maximum duration of 60 minutes.")

    def rate_limits(self, remaining: int = 27000) -> list[inp.ServerMessage]:
        return self._emit({"type": "rate_limits.updated", "rate_limits": [
            {"name": "tokens", "limit": 40000, "remaining": remaining, "reset_seconds": 19.5}]})

    def unknown(self, type: str = "mcp_list_tools.in_progress",
                **fields: Any) -> list[inp.ServerMessage]:
        """A well-formed event of a type rt does not handle (decodes to UnknownServerEvent)."""
        return self.raw({"type": type, "event_id": self._id("event_"), **fields})


# --------------------------------------------------------------------------- harness


class Harness:
    """A `SessionCore` on a `ManualClock`, a `ScriptedPeer`, and a log of every command.

    `feed` checks every `Send` for SDK conformance, so each scenario also proves that what the
    core sent is valid GA JSON. `jitter` is the fixed value the core's backoff jitter returns.
    """

    def __init__(self, config: SessionConfig | None = None, *, session_id: str = "s1e55i0n",
                 start: float = 1000.0, jitter: float = 0.5, **core_kwargs: Any) -> None:
        self.clock = ManualClock(start)
        self.config = config or SessionConfig()
        self.core = SessionCore(self.config, session_id=session_id, now=start,
                                jitter=lambda: jitter, **core_kwargs)
        self.peer = ScriptedPeer(self.clock, voice=self.config.voice)
        self.log: list[cmd.Command] = []

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    @property
    def state(self) -> Any:
        return self.core.state

    def feed(self, *inputs: inp.Input | Sequence[inp.Input]) -> list[cmd.Command]:
        """Handle inputs (or lists of them, as the peer returns) in order; return commands."""
        flat: list[inp.Input] = []
        for i in inputs:
            flat.extend(i if isinstance(i, list | tuple) else [i])
        out = drive(self.core, *flat)
        self.log.extend(out)
        return out

    # ----------------------------------------------------------------- connection

    def begin(self) -> list[cmd.Command]:
        return self.feed(inp.Begin(now=self.now, wall=self.clock.wall()))

    def open(self) -> list[cmd.Command]:
        return self.feed(inp.Opened(now=self.now))

    def ready(self, *, expires_in: float | None = 3600.0) -> list[cmd.Command]:
        """Begin, open, session.created, session.updated: the core ends up READY."""
        out = self.begin() + self.open()
        out += self.feed(self.peer.session_created(expires_in=expires_in))
        out += self.feed(self.peer.session_updated())
        return out

    def reconnect(self, *, expires_in: float | None = 3600.0) -> list[cmd.Command]:
        """After a `Connect` command: open, session.created, session.updated."""
        out = self.open() + self.feed(self.peer.session_created(expires_in=expires_in))
        return out + self.feed(self.peer.session_updated())

    def close(self, code: int | None, reason: str = "") -> list[cmd.Command]:
        return self.feed(inp.Closed(now=self.now, code=code, reason=reason))

    # ----------------------------------------------------------------- local inputs

    def mic(self, ms: float = 20.0, value: int = 1000) -> list[cmd.Command]:
        return self.feed(inp.MicAudio(now=self.now, pcm=pcm(ms, value)))

    def play(self, item_id: str | None, played_samples: int,
             idle: bool = False) -> list[cmd.Command]:
        return self.feed(inp.Playback(now=self.now, item_id=item_id,
                                      played_samples=played_samples, idle=idle))

    def user(self, action: inp.Action, text: str | None = None,
             exit_code: int = 0) -> list[cmd.Command]:
        return self.feed(inp.UserCommand(now=self.now, action=action, text=text,
                                         exit_code=exit_code))

    def tool_output(self, call_id: str, output: str) -> list[cmd.Command]:
        return self.feed(inp.ToolOutput(now=self.now, call_id=call_id, output=output))

    # ----------------------------------------------------------------- time

    def advance(self, seconds: float) -> float:
        return self.clock.advance(seconds)

    def tick(self, after: float = 0.0) -> list[cmd.Command]:
        """Advance the clock by `after` seconds, then `Tick`."""
        self.clock.advance(after)
        return self.feed(inp.Tick(now=self.now))

    def tick_to_deadline(self) -> list[cmd.Command]:
        """Move the clock exactly to `core.next_deadline()` and `Tick` there."""
        deadline = self.core.next_deadline()
        assert deadline is not None, "the core has no deadline"
        assert deadline >= self.now, f"deadline {deadline} is in the past (now {self.now})"
        self.clock.advance(deadline - self.now)
        return self.feed(inp.Tick(now=self.now))
