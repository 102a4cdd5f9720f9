"""`rt serve --protocol gemini`: the offline twin of Gemini Live (`BidiGenerateContent`).

Public API (heavy imports happen on first use):

    async with run_gemini_server(ServerOptions(port=0, pace=0), GeminiOptions()) as srv:
        srv.url                  # ws://127.0.0.1:PORT/ws/google.ai.generativelanguage.v1beta...
        srv.messages("toolResponse", conn=2)
    await serve_gemini_until_stopped(options, gemini, announce, stop_event)

It shares the OpenAI twin's parts: the Silero turn detector (`server/vad.py`), the voice
(`server/speech.py`), what is said and when a function is called (`server/replies.py`), the
ordered sender with its faults (`server/outbox.py`), `ServerOptions` and the recorder.

Module map: `app` (sockets, key, goAway/expiry and drop timers), `connection` (one client:
messages, VAD, turns), `setup` (the setup message, checked and read), `session` (the
conversation that resumption carries across connections, usage), `model_turn` (one answer:
audio, transcription, tool calls, interruption), `messages` (server messages, close codes),
`outbox`, `options` (`GeminiOptions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from realtime_cli.server.gemini.options import GeminiOptions

if TYPE_CHECKING:
    from realtime_cli.server.gemini.app import (
        GEMINI_PATH,
        RunningGeminiServer,
        run_gemini_server,
        serve_gemini_until_stopped,
    )

__all__ = ["GEMINI_PATH", "GeminiOptions", "RunningGeminiServer", "run_gemini_server",
           "serve_gemini_until_stopped"]


def __getattr__(name: str) -> Any:
    if name in ("GEMINI_PATH", "RunningGeminiServer", "run_gemini_server",
                "serve_gemini_until_stopped"):
        from realtime_cli.server.gemini import app

        return getattr(app, name)
    raise AttributeError(name)
