"""`rt sessions show` prices the input transcription too: the realtime model's tokens plus the
transcription model's own usage, stored with the session's figures."""

from __future__ import annotations

import pytest

from realtime_cli.cli.sessions_cmd import _session_cost
from realtime_cli.core.records import SessionFigures, TurnRecord
from realtime_cli.pricing import estimate_cost, transcription_cost
from realtime_cli.storage.queries import SessionDetail, SessionSummary
from realtime_cli.usage import TokenUsage, TranscriptionUsage


def test_the_shown_cost_adds_the_transcription_s_own_bill() -> None:
    turn = TokenUsage(input_tokens=1000, input_audio_tokens=1000, output_tokens=500,
                      output_audio_tokens=500)
    heard = TranscriptionUsage(tokens=TokenUsage(input_tokens=300, input_audio_tokens=300,
                                                 output_tokens=40, output_text_tokens=40))
    summary = SessionSummary(id="s" * 32, created_at=0.0, updated_at=0.0, ended_at=None,
                             title=None, model="gpt-realtime", voice="marin", status="ended",
                             end_reason=None, user_turns=1, assistant_turns=1, tool_calls=0,
                             interruptions=0, responses=1, input_tokens=1000,
                             output_tokens=500, cached_tokens=0, user_audio_ms=0.0,
                             assistant_audio_ms=0.0)
    detail = SessionDetail(
        summary=summary, instructions="", config={"transcription_model": "gpt-4o-mini-transcribe"},
        items=(), turns=(TurnRecord(session_id="s" * 32, response_id="r", turn_index=1,
                                    status="completed", started_at=0.0, duration_ms=1.0,
                                    latency_ms=None, usage=turn),),
        figures=SessionFigures(session_id="s" * 32, transcription=heard))
    realtime = estimate_cost("gpt-realtime", turn)
    asr = transcription_cost("gpt-4o-mini-transcribe", heard)
    assert realtime and asr
    assert _session_cost(detail) == pytest.approx(realtime + asr)
