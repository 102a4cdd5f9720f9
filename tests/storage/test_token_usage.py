"""Token counts are named once (`realtime_cli.usage`): the journal's columns, the stored-turn
reader, the wire shape and the server's usage object all follow `TOKEN_FIELDS`."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields

from realtime_cli.core.records import SessionStarted, TurnRecord
from realtime_cli.protocol import events as ev
from realtime_cli.protocol import openai_ga as codec
from realtime_cli.server.usage import Tokens, usage_dict
from realtime_cli.storage.queries import load_detail
from realtime_cli.storage.sqlite import apply_record
from realtime_cli.usage import TOKEN_FIELDS, WIRE_PATHS, TokenUsage, to_wire

# Distinct values, so a count stored or read under another name shows.
_USAGE = TokenUsage(**{name: 11 * (i + 1) for i, name in enumerate(TOKEN_FIELDS)})


def test_every_count_has_one_place_on_the_wire() -> None:
    assert TOKEN_FIELDS == tuple(f.name for f in fields(TokenUsage))
    assert set(WIRE_PATHS) == set(TOKEN_FIELDS)
    assert len(set(WIRE_PATHS.values())) == len(WIRE_PATHS)


def test_the_codec_reads_back_what_to_wire_writes() -> None:
    done = codec.decode(
        '{"type":"response.done","event_id":"e","response":{"id":"r","status":"completed",'
        f'"output":[],"usage":{json.dumps(to_wire(_USAGE))}}}}}'
    )
    assert isinstance(done, ev.ResponseDone)
    assert done.usage == _USAGE


def test_the_server_usage_object_is_the_wire_shape() -> None:
    wire = usage_dict(Tokens(text=7, audio=30), Tokens(text=2, audio=20), Tokens(text=5, audio=40))
    assert wire == {
        "total_tokens": 82,
        "input_tokens": 37,
        "output_tokens": 45,
        "input_token_details": {
            "text_tokens": 7,
            "audio_tokens": 30,
            "image_tokens": 0,
            "cached_tokens": 22,
            "cached_tokens_details": {"text_tokens": 2, "audio_tokens": 20, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": 5, "audio_tokens": 40},
    }


def test_a_turn_keeps_every_count_through_the_database(conn: sqlite3.Connection) -> None:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(turns)")}
    assert set(TOKEN_FIELDS) <= columns
    apply_record(conn, SessionStarted(session_id="s1", created_at=1.0, model="gpt-realtime",
                                      voice="v", instructions="", config={}))
    turn = TurnRecord(session_id="s1", response_id="r1", turn_index=1, status="completed",
                      started_at=2.0, duration_ms=10.0, latency_ms=5.0, usage=_USAGE,
                      interrupted=True)
    apply_record(conn, turn)
    assert load_detail(conn, "s1").turns == (turn,)


def test_absurd_counts_are_clamped_to_64_bits(conn: sqlite3.Connection) -> None:
    apply_record(conn, SessionStarted(session_id="s1", created_at=1.0, model="m", voice="v",
                                      instructions="", config={}))
    apply_record(conn, TurnRecord(session_id="s1", response_id="r1", turn_index=1,
                                  status="completed", started_at=2.0, duration_ms=1.0,
                                  latency_ms=None, usage=TokenUsage(output_tokens=2**70)))
    [turn] = load_detail(conn, "s1").turns
    assert turn.usage.output_tokens == 2**63 - 1


def test_from_mapping_ignores_other_keys() -> None:
    row = {"model": "x", "turns": 3, **_USAGE.as_dict()}
    assert TokenUsage.from_mapping(row) == _USAGE
