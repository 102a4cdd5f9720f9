"""The seam between a provider's wire format and rt's typed events.

A `WireCodec` turns rt's `ClientEvent`s into frames and frames into `ServerEvent`s; everything
provider-specific (field names, base64 audio, how usage is reported) stays inside it. The
session core and the runner only ever see the typed events in `events.py`, so a second
provider is a sibling codec (and, where its handshake differs, a transport), not a change to
the core. `openai_ga.OpenAIGACodec` is the OpenAI Realtime GA codec. The runner makes one per
connection, since a codec may keep state for the connection it serves.
"""

from __future__ import annotations

from typing import Protocol

from realtime_cli.protocol.events import ClientEvent, ServerEvent


class WireCodec(Protocol):
    """One per connection: a codec may keep state (ids it made up, usage counted so far)."""

    name: str

    def opened(self) -> list[ServerEvent]:
        """Events the protocol implies the moment a connection opens (a provider whose server
        says nothing until the client's setup reports the session as created here)."""
        ...

    def encode(self, event: ClientEvent) -> list[str]:
        """The frames for `event`: usually one, none for what the provider has no use for (a
        truncate where the server keeps no such state), several where it needs them."""
        ...

    def decode(self, frame: str | bytes) -> list[ServerEvent]:
        """The events in one frame, in order; a frame it cannot read becomes
        `MalformedServerEvent`, never an exception."""
        ...
