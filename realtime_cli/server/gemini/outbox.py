"""The Gemini twin's writer: the OpenAI twin's `Outbox` (order, `--latency`, `--garbage`,
queued close), sending each message as JSON in a binary frame, as the service does
(docs/protocol.md#rt-serve---protocol-gemini). `--drop-on NAME` matches a message's top-level
field or a field of its `serverContent` (`turnComplete`, `interrupted`, `goAway`, ...).
"""

from __future__ import annotations

import json

from realtime_cli.server.gemini.messages import kinds
from realtime_cli.server.outbox import Outbox, _Drop
from realtime_cli.server.wire import JsonDict


class GeminiOutbox(Outbox):
    def emit(self, event: JsonDict) -> JsonDict:
        """Queue one server message unchanged (Gemini messages have no type or id)."""
        if self._closing:
            return event
        if self._on_event is not None:
            self._on_event(event)
        self._put(json.dumps(event, separators=(",", ":")).encode())
        if self._drop_on is not None and self._drop_on in kinds(event):
            self._put(_Drop(self._drop_on))
            self._closing = True
        elif self._garbage is not None and (junk := self._garbage.after_event()) is not None:
            self._put(junk)
        return event
