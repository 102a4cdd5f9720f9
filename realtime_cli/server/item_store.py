"""The item store of one connection (what the service calls its conversation): ordered items,
their audio, insertion, delete, truncate.

Items are kept as the public dicts the server sends (`conversation.item.added/done`, which carry
no audio bytes; docs/protocol.md#replay-after-a-new-connection), plus the PCM of every audio
content part so that `conversation.item.retrieve` can return it and `truncate` can check lengths.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from realtime_cli.audio.pcm import SAMPLE_WIDTH, bytes_to_ms, ms_to_samples
from realtime_cli.protocol.audio_format import b64decode_pcm, b64encode_pcm
from realtime_cli.server.wire import ClientError, JsonDict, new_id

AUDIO_PARTS = ("input_audio", "output_audio")


@dataclass(slots=True)
class StoredItem:
    item: JsonDict
    audio: dict[int, bytes] = field(default_factory=dict)
    speech_ms: float | None = None  # how much of the audio VAD judged to be speech
    truncated: bool = False  # cut by `conversation.item.truncate`: later audio is not kept

    @property
    def id(self) -> str:
        return str(self.item["id"])

    def audio_ms(self, content_index: int = 0) -> float:
        return bytes_to_ms(len(self.audio.get(content_index, b"")))

    def public(self, *, with_audio: bool = False) -> JsonDict:
        item = copy.deepcopy(self.item)
        if with_audio:
            for index, pcm in self.audio.items():
                item["content"][index]["audio"] = b64encode_pcm(pcm)
        return item


def _not_found(item_id: str, param: str = "item_id") -> ClientError:
    return ClientError(
        "item_not_found", f"Item with item_id '{item_id}' not found in the conversation.", param
    )


class ItemStore:
    """Ordered items; every mutation either fully happens or raises `ClientError`."""

    def __init__(self) -> None:
        self.id = new_id("conv")
        self.items: list[StoredItem] = []

    def get(self, item_id: str) -> StoredItem | None:
        return next((s for s in self.items if s.id == item_id), None)

    def require(self, item_id: str) -> StoredItem:
        stored = self.get(item_id)
        if stored is None:
            raise _not_found(item_id)
        return stored

    def previous_id(self, item_id: str) -> str | None:
        ids = [s.id for s in self.items]
        index = ids.index(item_id)
        return ids[index - 1] if index > 0 else None

    def check_insert(self, item_id: str, previous_item_id: str | None) -> None:
        if self.get(item_id) is not None:
            raise ClientError(
                "item_already_exists",
                f"Item with id '{item_id}' already exists in the conversation.",
                "item.id",
            )
        if previous_item_id not in (None, "root") and self.get(previous_item_id) is None:
            raise ClientError(
                "invalid_value",
                f"Previous item with id '{previous_item_id}' not found in the conversation.",
                "previous_item_id",
            )

    def insert(self, stored: StoredItem, previous_item_id: str | None = None) -> str | None:
        """Insert after `previous_item_id` ("root" = first; None = append); return the actual
        previous item id (None when first)."""
        self.check_insert(stored.id, previous_item_id)
        if previous_item_id is None:
            self.items.append(stored)
        elif previous_item_id == "root":
            self.items.insert(0, stored)
        else:
            index = [s.id for s in self.items].index(previous_item_id)
            self.items.insert(index + 1, stored)
        return self.previous_id(stored.id)

    def delete(self, item_id: str) -> None:
        self.items.remove(self.require(item_id))

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Cut an assistant audio item at `audio_end_ms` and drop its transcript, as the service
        does (docs/protocol.md#truncation). An item still being streamed is cut at what was sent
        so far, and what its response sends later is not kept."""
        stored = self.require(item_id)
        item = stored.item
        content = item.get("content") or []
        is_audio = (
            item.get("type") == "message"
            and item.get("role") == "assistant"
            and content_index < len(content)
            and content[content_index].get("type") == "output_audio"
            and content_index in stored.audio
        )
        if not is_audio:
            raise ClientError(
                "unsupported_content_type",
                "Only model output audio messages can be truncated",
                "content_index" if content_index >= len(content) else None,
                echo_event_id=False,
            )
        total_ms = stored.audio_ms(content_index)
        if audio_end_ms > total_ms:
            raise ClientError(
                "invalid_value",
                f"Audio content of {int(total_ms)}ms is already shorter than {audio_end_ms}ms",
                None,
                echo_event_id=False,
            )
        pcm = stored.audio[content_index]
        keep = ms_to_samples(audio_end_ms) * SAMPLE_WIDTH
        stored.audio[content_index] = pcm[:keep]
        content[content_index]["transcript"] = None
        stored.truncated = True


def item_from_client(raw: JsonDict) -> StoredItem:
    """A client `item` (schema-checked) as stored: id/object/status filled, audio split off."""
    item = copy.deepcopy(raw)
    item.setdefault("id", new_id("item"))
    item["object"] = "realtime.item"
    item.setdefault("status", "completed")
    stored = StoredItem(item)
    if item["type"] == "function_call":
        item.setdefault("call_id", new_id("call", 16))
    for index, part in enumerate(item.get("content") or []):
        if part.get("type") in AUDIO_PARTS and "audio" in part:
            pcm = b64decode_pcm(part.pop("audio"))
            if pcm is None:
                raise ClientError(
                    "invalid_value",
                    "Invalid audio: expected base64-encoded PCM16 audio.",
                    f"item.content[{index}].audio",
                )
            stored.audio[index] = pcm
            part.setdefault("transcript", None)
        if part.get("type") == "output_audio":
            # Kept as text: the service takes the transcript, not the audio
            # (docs/protocol.md#replay-after-a-new-connection).
            item["content"][index] = {"type": "output_text", "text": part["text"]}
            stored.audio.pop(index, None)
    return stored
