"""The seam between a provider's wire format and rt's typed events.

A `WireCodec` turns rt's `ClientEvent`s into frames and frames into `ServerEvent`s; everything
provider-specific (field names, base64 audio, how usage is reported) stays inside it. The
session core and the runner only ever see the typed events in `events.py`, so a second
provider is a sibling codec (and, where its handshake differs, a transport), not a change to
the core. `openai_ga.OPENAI_GA` is the OpenAI Realtime GA codec.
"""

from __future__ import annotations

from typing import Protocol

from realtime_cli.protocol.events import ClientEvent, ServerEvent


class WireCodec(Protocol):
    name: str

    def encode(self, event: ClientEvent) -> str:
        """One frame for `event`."""
        ...

    def decode(self, frame: str | bytes) -> ServerEvent:
        """The event in one frame; a frame it cannot read becomes `MalformedServerEvent`,
        never an exception."""
        ...
