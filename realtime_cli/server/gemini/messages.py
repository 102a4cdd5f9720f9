"""The server messages of Gemini Live (`BidiGenerateContentServerMessage`, camelCase JSON) and
the close codes the service ends a connection with (docs/protocol.md#rt-serve---protocol-gemini).

Every builder returns one message: a JSON object with exactly one of `setupComplete`,
`serverContent`, `toolCall`, `toolCallCancellation`, `goAway`, `sessionResumptionUpdate`,
optionally with `usageMetadata` next to it.
"""

from __future__ import annotations

from realtime_cli.protocol.audio_format import SAMPLE_RATE, b64encode_pcm
from realtime_cli.server.wire import JsonDict

OUTPUT_MIME = f"audio/pcm;rate={SAMPLE_RATE}"

# Close codes and reasons, as clients of the service have logged them.
INVALID_ARGUMENT = 1007
POLICY = 1008
INTERNAL = 1011
BAD_KEY_REASON = "API key not valid. Please pass a valid API key."
NO_KEY_REASON = ("Method doesn't allow unregistered callers (callers without established "
                 "identity). Please use API Key or other form of API consumer identity to call "
                 "this API.")
DEADLINE_REASON = "Deadline expired before operation could complete."
STILL_CONNECTED_REASON = "Internal error encountered."
HANDLE_REFUSED_REASON = "Session resumption handle is not valid or has expired."  # unverified


MAX_REASON_BYTES = 123  # a close frame's reason is at most 123 bytes (RFC 6455)


def close_reason(text: str) -> str:
    """`text` cut to what fits in a close frame (the no-key reason does not)."""
    return text.encode()[:MAX_REASON_BYTES].decode(errors="ignore")


class Refusal(Exception):
    """The connection must close with this code and reason (the service's way of refusing)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def unknown_field(name: str, at: str) -> Refusal:
    """The service's wording for a field it does not know (the path in snake_case)."""
    where = f" at '{at}'" if at else ""
    return Refusal(INVALID_ARGUMENT,
                   f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.')


def setup_complete() -> JsonDict:
    return {"setupComplete": {}}


def resumption_update(handle: str) -> JsonDict:
    return {"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}}


def not_resumable() -> JsonDict:
    """An update with no handle: `resumable` false and no `newHandle`, both left out as
    default values are in the service's JSON (unverified for this message)."""
    return {"sessionResumptionUpdate": {}}


def go_away(seconds_left: float) -> JsonDict:
    """`timeLeft` is a protobuf Duration: seconds with an `s` suffix."""
    return {"goAway": {"timeLeft": f"{seconds_left:g}s"}}


def content(**fields: object) -> JsonDict:
    return {"serverContent": dict(fields)}


def audio_part(pcm: bytes) -> JsonDict:
    return content(modelTurn={"parts": [{"inlineData": {"mimeType": OUTPUT_MIME,
                                                        "data": b64encode_pcm(pcm)}}]})


def text_part(text: str) -> JsonDict:
    return content(modelTurn={"parts": [{"text": text}]})


def tool_call(calls: list[JsonDict]) -> JsonDict:
    return {"toolCall": {"functionCalls": calls}}


def tool_call_cancellation(ids: list[str]) -> JsonDict:
    return {"toolCallCancellation": {"ids": ids}}


def kinds(message: JsonDict) -> set[str]:
    """The names `--drop-on` matches: the top-level field and the fields of `serverContent`."""
    names = set(message)
    names.update(message.get("serverContent", {}))
    return names
