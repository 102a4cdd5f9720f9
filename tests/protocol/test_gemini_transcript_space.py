"""Gemini's transcription chunks start with a space, the first one too (" Ca", "n I", " pl" in
github.com/google-gemini/cookbook issue 951): neither the user's transcript nor the answer's may,
or it is printed, journaled and replayed with a stray space."""

from __future__ import annotations

from helpers import records

from protocol import gemini_fixtures as fx
from realtime_cli.core import commands as cmd
from realtime_cli.core import inputs as inp
from realtime_cli.core.config import SessionConfig
from realtime_cli.core.records import ItemKind, ItemRecord
from realtime_cli.core.session import SessionCore
from realtime_cli.protocol.gemini_live import GeminiLiveCodec


def test_transcripts_do_not_start_with_the_space_of_their_first_chunk() -> None:
    cfg = SessionConfig(provider="gemini", model="gemini-3.8-live", voice="Puck")
    core = SessionCore(cfg, session_id="s-space", now=100.0)
    codec = GeminiLiveCodec(cfg, prefix="t")
    out: list[cmd.Command] = []

    def feed(*inputs: inp.Input) -> None:
        for i in inputs:
            commands = core.handle(i)
            out.extend(commands)
            for c in commands:
                if isinstance(c, cmd.Send):
                    codec.encode(c.event)

    def server(*messages: fx.Message) -> None:
        feed(*(inp.ServerMessage(now=100.0, event=e)
               for m in messages for e in codec.decode(fx.frame(m))))

    feed(inp.Begin(now=100.0, wall=1_800_000_000.0), inp.Opened(now=100.0))
    feed(*(inp.ServerMessage(now=100.0, event=e) for e in codec.opened()))
    server(fx.setup_complete(), fx.heard(" What's"), fx.heard(" the weather?", finished=True),
           fx.audio(bytes(4800)), fx.said(" Sunny"), fx.said(" and warm."),
           fx.generation_complete(), fx.turn_complete())
    questions = [r for r in records(out, ItemRecord) if r.kind is ItemKind.USER_AUDIO and r.transcript]
    assert questions and questions[-1].transcript == "What's the weather?", out
    answers = [r for r in records(out, ItemRecord) if r.kind is ItemKind.ASSISTANT]
    assert answers, out
    assert answers[-1].transcript == "Sunny and warm."
