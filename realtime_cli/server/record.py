"""What the server received, for tests: in memory and, with `--record FILE`, as JSON lines.

Each line of the file is `{"conn": N, "t": S, "event": {...}}`: `conn` is the 1-based
connection index, `t` seconds since the server started, `event` the client event exactly as
parsed (JSON objects only; frames that are not JSON objects are not recorded). To keep files
small, the `audio` string of `input_audio_buffer.append` is replaced by `"<N base64 chars>"`;
the in-memory list keeps it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import IO

from realtime_cli.errors import ConfigError
from realtime_cli.server.wire import JsonDict


class Recorder:
    def __init__(self, path: Path | None) -> None:
        self.received: list[tuple[int, JsonDict]] = []
        self._started = time.monotonic()
        self._file: IO[str] | None = None
        if path is not None:
            try:
                self._file = path.open("a", encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot open --record file {path}: {exc.strerror}") from None

    def record(self, conn: int, event: JsonDict) -> None:
        self.received.append((conn, event))
        if self._file is None:
            return
        shown = event
        if event.get("type") == "input_audio_buffer.append" and isinstance(event.get("audio"), str):
            shown = {**event, "audio": f"<{len(event['audio'])} base64 chars>"}
        line = {"conn": conn, "t": round(time.monotonic() - self._started, 3), "event": shown}
        self._file.write(json.dumps(line) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
