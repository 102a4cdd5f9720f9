"""Typed, frozen values for the GA Realtime events rt sends and handles (docs/protocol.md).

Client events carry exactly the fields the GA API accepts; `codec.encode` renders them.
Server events hold only what rt uses; `codec.decode` builds them and never raises: anything it
cannot read becomes `UnknownServerEvent` or `MalformedServerEvent`, which the core records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from realtime_cli.usage import TokenUsage, TranscriptionUsage

JsonObject = dict[str, Any]


# --------------------------------------------------------------------------- items


@dataclass(frozen=True, slots=True)
class ContentPart:
    type: str  # input_text | input_audio | output_text | output_audio | text | audio
    text: str | None = None
    transcript: str | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """A conversation item as the server describes it: no audio bytes
    (docs/protocol.md#replay-after-a-new-connection)."""

    id: str
    type: str  # message | function_call | function_call_output | mcp_* ...
    role: str | None = None
    status: str | None = None
    content: tuple[ContentPart, ...] = ()
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None

    def text(self) -> str:
        """The words of the item: text parts, else transcripts, joined."""
        return "".join((p.text or p.transcript or "") for p in self.content)


# --------------------------------------------------------------------------- client events


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionUpdate:
    session: JsonObject
    event_id: str | None = None
    # A provider that can resume a server session (Gemini Live) continues the one this handle
    # names instead of starting afresh; not part of the OpenAI wire.
    resume_handle: str | None = field(default=None, metadata={"local": True})
    type: str = field(default="session.update", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioBufferAppend:
    audio: bytes = field(repr=False)  # PCM16 24 kHz mono; the codec writes it as base64
    event_id: str | None = None
    type: str = field(default="input_audio_buffer.append", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioBufferCommit:
    event_id: str | None = None
    type: str = field(default="input_audio_buffer.commit", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioBufferClear:
    event_id: str | None = None
    type: str = field(default="input_audio_buffer.clear", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemCreate:
    item: JsonObject
    previous_item_id: str | None = None
    event_id: str | None = None
    type: str = field(default="conversation.item.create", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemTruncate:
    item_id: str
    content_index: int
    audio_end_ms: int
    event_id: str | None = None
    type: str = field(default="conversation.item.truncate", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemDelete:
    item_id: str
    event_id: str | None = None
    type: str = field(default="conversation.item.delete", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemRetrieve:
    item_id: str
    event_id: str | None = None
    type: str = field(default="conversation.item.retrieve", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCreate:
    response: JsonObject | None = None
    event_id: str | None = None
    type: str = field(default="response.create", init=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCancel:
    response_id: str | None = None
    event_id: str | None = None
    type: str = field(default="response.cancel", init=False)


ClientEvent = (
    SessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemTruncate
    | ConversationItemDelete
    | ConversationItemRetrieve
    | ResponseCreate
    | ResponseCancel
)


# --------------------------------------------------------------------------- server events


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionCreated:
    session_id: str | None
    expires_at: float | None
    session: JsonObject


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionUpdated:
    session: JsonObject
    resumed: bool = False  # the server continued a session it kept: it has the conversation


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionExpiring:
    """The server will end this connection in `seconds_left` (Gemini's goAway)."""

    seconds_left: float


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionResumable:
    """A handle a new connection can give to continue this server session (Gemini Live)."""

    handle: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemAdded:
    """`conversation.item.added` (GA) or the legacy `conversation.item.created`."""

    item: Item
    previous_item_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemDone:
    item: Item


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemTruncated:
    item_id: str
    content_index: int
    audio_end_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItemDeleted:
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioBufferCommitted:
    item_id: str
    previous_item_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioBufferCleared:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStarted:
    audio_start_ms: int
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStopped:
    audio_end_ms: int
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InputAudioTimeoutTriggered:
    audio_start_ms: int
    audio_end_ms: int
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTranscriptionDelta:
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTranscriptionCompleted:
    item_id: str
    transcript: str
    usage: TranscriptionUsage | None = None  # what the transcription model bills, if reported


@dataclass(frozen=True, slots=True, kw_only=True)
class InputTranscriptionFailed:
    item_id: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseCreated:
    response_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseDone:
    response_id: str
    status: str  # completed | cancelled | incomplete | failed
    reason: str | None = None  # status_details.reason
    usage: TokenUsage | None = None  # `response.done.response.usage`
    output: tuple[Item, ...] = ()
    error: ResponseError | None = None  # status_details.error of a failed response

    def failure(self) -> str | None:
        """One line for a failed response, None otherwise."""
        if self.status != "failed":
            return None
        err = self.error or ResponseError()
        what = err.message or "no reason given"
        code = err.code or err.type
        return f"the answer failed: {what} ({code})" if code else f"the answer failed: {what}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseError:
    type: str | None = None
    code: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputItemAdded:
    response_id: str
    item: Item


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputItemDone:
    response_id: str
    item: Item


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentPartAdded:
    response_id: str
    item_id: str
    part_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContentPartDone:
    response_id: str
    item_id: str
    part_type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputAudioDelta:
    response_id: str
    item_id: str
    content_index: int
    pcm: bytes = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputAudioDone:
    response_id: str
    item_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputTranscriptDelta:
    """`response.output_audio_transcript.delta` or `response.output_text.delta`."""

    response_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputTranscriptDone:
    response_id: str
    item_id: str
    transcript: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCallArgumentsDelta:
    call_id: str
    item_id: str
    delta: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCallArgumentsDone:
    call_id: str
    item_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallsCancelled:
    """The server withdrew function calls it made: their outputs must not be sent, and no
    answer to them is owed (Gemini's `toolCallCancellation`, sent when the user interrupts a
    turn whose calls are pending; the OpenAI codec never makes one)."""

    call_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitsUpdated:
    rate_limits: tuple[JsonObject, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerError:
    """The `error` event; `client_event_id` is `error.event_id`, often null (docs/protocol.md#errors)."""

    type: str
    code: str | None
    message: str
    param: str | None = None
    client_event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownServerEvent:
    """A well-formed event of a type rt does not handle (MCP, WebRTC-only, future events)."""

    type: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MalformedServerEvent:
    """Input the protocol does not allow: bad JSON, a binary frame, missing or mistyped fields."""

    reason: str
    excerpt: str


ServerEvent = (
    SessionCreated
    | SessionUpdated
    | SessionExpiring
    | SessionResumable
    | ConversationItemAdded
    | ConversationItemDone
    | ConversationItemTruncated
    | ConversationItemDeleted
    | InputAudioBufferCommitted
    | InputAudioBufferCleared
    | SpeechStarted
    | SpeechStopped
    | InputAudioTimeoutTriggered
    | InputTranscriptionDelta
    | InputTranscriptionCompleted
    | InputTranscriptionFailed
    | ResponseCreated
    | ResponseDone
    | OutputItemAdded
    | OutputItemDone
    | ContentPartAdded
    | ContentPartDone
    | OutputAudioDelta
    | OutputAudioDone
    | OutputTranscriptDelta
    | OutputTranscriptDone
    | FunctionCallArgumentsDelta
    | FunctionCallArgumentsDone
    | ToolCallsCancelled
    | RateLimitsUpdated
    | ServerError
    | UnknownServerEvent
    | MalformedServerEvent
)
