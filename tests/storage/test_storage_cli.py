"""`rt sessions ...` and `rt stats` through Typer's CliRunner, and a few real `rt` processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from realtime_cli.cli import sessions_cmd, stats_cmd
from realtime_cli.errors import ConfigError, StorageError, UnknownSessionError

from .synth import make_session

ROOT = Path(__file__).resolve().parents[2]


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(sessions_cmd.sessions_app, name="sessions")
    app.command("stats")(stats_cmd.stats)
    return app


def rt(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(_app(), list(args), input=input)


def ok(*args: str) -> str:
    result = rt(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


@pytest.fixture
def two(db_file: Path) -> tuple[str, str]:
    old = make_session(db_file, created_at=time.time() - 30 * 86400, turns=2)
    new = make_session(db_file, created_at=time.time() - 3600, turns=2)
    return old, new


def test_list_plain_and_json(two: tuple[str, str]) -> None:
    old, new = two
    out = ok("sessions", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STARTED", "DURATION", "YOU", "ASST", "TOOLS", "INTR", "STATUS",
                                "TITLE"]
    assert lines[1].startswith(new[:8]) and lines[2].startswith(old[:8])
    assert "1m00s" in lines[1] and "ended" in lines[1] and "Hello there" in lines[1]
    rows = json.loads(ok("sessions", "list", "--json"))
    assert [r["id"] for r in rows] == [new, old]
    turns = (rows[0]["user_turns"], rows[0]["assistant_turns"], rows[0]["tool_calls"])
    assert turns == (2, 2, 0) and rows[0]["interruptions"] == 1
    assert len(json.loads(ok("sessions", "list", "--json", "--limit", "1"))) == 1


def test_list_all_and_empty(db_file: Path) -> None:
    assert "No sessions yet" in ok("sessions", "list")
    for n in range(25):
        make_session(db_file, created_at=1_800_000_000 + n)
    assert len(json.loads(ok("sessions", "list", "--json"))) == 20
    assert len(json.loads(ok("sessions", "list", "--json", "--all"))) == 25


def test_list_rich_on_a_terminal(two: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions_cmd, "_is_terminal", lambda: True)
    out = ok("sessions", "list")
    assert two[1][:8] in out and "STATUS" in out


def test_data_dir_flag_beats_env(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    from realtime_cli.storage.paths import db_path

    sid = make_session(db_path(elsewhere))
    assert json.loads(ok("sessions", "list", "--json")) == []
    rows = json.loads(ok("sessions", "list", "--json", "--data-dir", str(elsewhere)))
    assert [r["id"] for r in rows] == [sid]


def test_show_marks_the_cut(two: tuple[str, str]) -> None:
    out = ok("sessions", "show", two[1][:6])
    assert (
        "assistant: Sure, the weather ✂ [interrupted at 1.24 s] [unheard: is sunny and warm today.]"
        in out
    )
    assert "assistant: Sure, the weather is sunny and warm today." in out  # the uncut turn
    assert "you: Hello there, tell me about the weather in Paris" in out
    assert "latency 300 ms" in out and "cached 400" in out and "#0 initial" in out
    assert "est. cost $0.1030" in out


def test_show_json(two: tuple[str, str]) -> None:
    data = json.loads(ok("sessions", "show", two[1], "--json"))
    assert data["session"]["id"] == two[1]
    assert [i["local_id"] for i in data["items"]] == ["u0", "a0", "u1", "a1"]
    assert data["items"][3]["truncated"] is True and data["items"][3]["audio_end_ms"] == 1240
    assert len(data["turns"]) == 2 and len(data["interruptions"]) == 1
    assert data["session"]["cost_usd"] == pytest.approx(2 * 0.05148)


def test_unknown_and_ambiguous_ids(two: tuple[str, str]) -> None:
    result = rt("sessions", "show", "nothing")
    assert isinstance(result.exception, UnknownSessionError)


def test_delete_needs_yes_without_a_terminal(two: tuple[str, str]) -> None:
    result = rt("sessions", "delete", two[0])
    assert isinstance(result.exception, ConfigError)
    assert "--yes" in str(result.exception)
    assert len(json.loads(ok("sessions", "list", "--json"))) == 2
    ok("sessions", "delete", two[0][:8], "--yes")
    assert [r["id"] for r in json.loads(ok("sessions", "list", "--json"))] == [two[1]]


def test_delete_asks_on_a_terminal(two: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions_cmd, "_stdin_is_terminal", lambda: True)
    result = rt("sessions", "delete", two[0], two[1], input="n\n")
    assert result.exit_code == 1
    assert len(json.loads(ok("sessions", "list", "--json"))) == 2
    result = rt("sessions", "delete", two[0], two[1], input="y\n")
    assert result.exit_code == 0, result.output
    assert json.loads(ok("sessions", "list", "--json")) == []


def test_delete_refuses_a_live_session(db_file: Path) -> None:
    sid = make_session(db_file, ended=False)  # owned by this (live) process
    result = rt("sessions", "delete", sid, "--yes")
    assert isinstance(result.exception, StorageError) and "active" in str(result.exception)


def test_export_json_and_md(two: tuple[str, str], tmp_path: Path) -> None:
    data = json.loads(ok("sessions", "export", two[1], "--format", "json"))
    assert data["session"]["id"] == two[1]
    md = ok("sessions", "export", two[1], "-f", "md")
    assert md.startswith("# Hello there")
    assert "Sure, the weather *✂ [interrupted at 1.24 s]* ~~is sunny and warm today.~~" in md
    out = tmp_path / "s.md"
    ok("sessions", "export", two[1], "-f", "md", "-o", str(out))
    assert out.read_text() == md


def test_export_wav_is_the_conversation_as_heard(
    two: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "s.wav"
    ok("sessions", "export", two[1], "-f", "wav", "-o", str(out))
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        frames = w.readframes(w.getnframes())
    # user 1000 ms, assistant 2000 ms, user 1000 ms, assistant cut at 1240 ms
    assert len(frames) == (1000 + 2000 + 1000 + 1240) * 48
    assert frames[:2] == (100).to_bytes(2, "little", signed=True)
    assert frames[-2:] == (-200).to_bytes(2, "little", signed=True)
    monkeypatch.chdir(tmp_path)
    ok("sessions", "export", two[1][:8], "-f", "wav")
    assert (tmp_path / f"{two[1][:8]}.wav").stat().st_size == out.stat().st_size


def test_export_wav_without_audio(db_file: Path, tmp_path: Path) -> None:
    sid = make_session(db_file, audio=False)
    result = rt("sessions", "export", sid, "-f", "wav", "-o", str(tmp_path / "x.wav"))
    assert isinstance(result.exception, StorageError)
    assert "no stored audio" in str(result.exception)
    assert not (tmp_path / "x.wav").exists()


def test_stats(two: tuple[str, str], db_file: Path) -> None:
    data = json.loads(ok("stats", "--json"))
    assert data["sessions"] == 2 and data["assistant_turns"] == 4 and data["interruptions"] == 2
    assert (data["user_turns"], data["tool_calls"]) == (4, 0)
    assert data["talk_time_s"] == pytest.approx(2 * (2.0 + 3.24))
    assert data["latency_ms"] == {"p50": 350.0, "p95": 400.0, "samples": 4}
    assert data["tokens"]["input"] == 4000 and data["tokens"]["input_cached"] == 800
    assert data["tokens"]["output"] == 2000
    assert data["cost_usd"] == pytest.approx(4 * 0.05148)
    recent = json.loads(ok("stats", "--json", "--since", "7d"))
    assert recent["sessions"] == 1 and recent["assistant_turns"] == 2
    text = ok("stats", "--since", "2000-01-01")
    assert "Sessions        2" in text and "p50 350 ms, p95 400 ms" in text
    assert "Estimated cost  $0.2059" in text


def test_stats_unknown_model_has_no_cost(db_file: Path) -> None:
    make_session(db_file, model="some-other-model")
    data = json.loads(ok("stats", "--json"))
    assert data["cost_usd"] is None and data["unpriced_models"] == ["some-other-model"]
    assert "Estimated cost  n/a" in ok("stats")
    assert "est. cost n/a" in ok("sessions", "show", json.loads(ok("sessions", "list", "--json"))[0]["id"])


def test_stats_bad_since() -> None:
    result = rt("stats", "--since", "last tuesday")
    assert isinstance(result.exception, ConfigError)
    assert "\n" not in str(result.exception)


# -- the real `rt` -----------------------------------------------------------------------------


def _rt_process(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RT_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "realtime_cli", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


@pytest.fixture(scope="module")
def rt_cli_works(tmp_path_factory: pytest.TempPathFactory) -> None:
    probe = _rt_process("--help", data_dir=tmp_path_factory.mktemp("probe"))
    if probe.returncode != 0 and "ImportError" in probe.stderr:
        pytest.skip(f"the rt CLI does not import yet: {probe.stderr.strip().splitlines()[-1]}")


@pytest.mark.usefixtures("rt_cli_works")
def test_rt_process_end_to_end(two: tuple[str, str], data_dir: Path) -> None:
    listed = _rt_process("sessions", "list", "--json", data_dir=data_dir)
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [two[1], two[0]]
    plain = _rt_process("sessions", "list", data_dir=data_dir)
    assert plain.stdout.splitlines()[0].startswith("ID")
    shown = _rt_process("sessions", "show", two[1][:7], data_dir=data_dir)
    assert "✂ [interrupted at 1.24 s]" in shown.stdout
    stats = _rt_process("stats", "--json", data_dir=data_dir)
    assert json.loads(stats.stdout)["sessions"] == 2


@pytest.mark.usefixtures("rt_cli_works")
def test_rt_process_errors_are_one_line(two: tuple[str, str], data_dir: Path) -> None:
    unknown = _rt_process("sessions", "show", "ffffffff", data_dir=data_dir)
    assert unknown.returncode == UnknownSessionError.exit_code
    assert unknown.stderr.startswith("rt: no session matches") and unknown.stderr.count("\n") == 1
    refused = _rt_process("sessions", "delete", two[0], data_dir=data_dir)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    since = _rt_process("stats", "--since", "soon", data_dir=data_dir)
    assert since.returncode == ConfigError.exit_code and since.stderr.startswith("rt: bad --since")


def test_show_on_a_terminal_dims_instead_of_brackets(
    two: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sessions_cmd, "_is_terminal", lambda: True)
    out = " ".join(ok("sessions", "show", two[1]).split())  # rich wraps at the console width
    assert "Sure, the weather ✂ [interrupted at 1.24 s] is sunny and warm today." in out
    assert "[unheard:" not in out


def test_price_overrides_from_the_config_file_reach_stats_and_show(
    two: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The price table lives in pricing.py; `[prices]` in the config file overrides it."""
    default = json.loads(ok("stats", "--json"))["cost_usd"]
    config = tmp_path / "rt.toml"
    config.write_text("[prices.gpt-realtime]\naudio_out = 6400.0\naudio_in = 3200.0\n")
    monkeypatch.setenv("RT_CONFIG", str(config))
    dearer = json.loads(ok("stats", "--json"))["cost_usd"]
    assert default > 0 and dearer > 10 * default
    shown = json.loads(ok("sessions", "show", two[1], "--json"))
    assert shown["session"]["cost_usd"] == pytest.approx(dearer / 2, rel=0.01)


def _failed(db_file: Path, *, figures: bool = True) -> str:
    """A session that ended in an error, with the core's figures unless `figures` is False."""
    from realtime_cli.core.records import SessionEnded, SessionFigures, SessionStatus

    from .synth import session_records, write_records

    records = session_records(created_at=time.time() - 60, ended=False)
    sid = records[0].session_id
    if figures:
        records.append(SessionFigures(
            session_id=sid, user_turns=3, assistant_turns=2, tool_calls=1, speech_overlaps=1,
            cancel_requests=1, heard_fraction=0.5, errors=1, time_to_ready_ms=700.0,
            audio_sent_ms=4000.0, audio_received_ms=4000.0, audio_heard_ms=3240.0, idle_s=5.0,
            reconnects=1, last_activity_at=time.time() - 10))
    records.append(SessionEnded(session_id=sid, ended_at=time.time() - 5,
                                status=SessionStatus.FAILED,
                                reason="the answer failed: quota (insufficient_quota)"))
    write_records(db_file, records)
    return sid


def test_a_failed_session_is_listed_and_shown_failed_with_its_reason(db_file: Path) -> None:
    sid = _failed(db_file)
    [row] = json.loads(ok("sessions", "list", "--json"))
    assert (row["status"], row["end_reason"]) == (
        "failed", "the answer failed: quota (insufficient_quota)")
    assert (row["user_turns"], row["assistant_turns"], row["tool_calls"]) == (3, 2, 1)
    assert row["interruptions"] == 2  # the figures' count, not the stored records' (1)
    listed = ok("sessions", "list").splitlines()[1]
    assert "failed  [the answer failed: quota (insufficient_quota)] Hello there" in listed
    shown = ok("sessions", "show", sid)
    assert "failed (the answer failed: quota (insufficient_quota))" in shown
    for line in ("Turns        you 3 · assistant 2 · tool calls 1",
                 "Interrupted  2 (barge-in 1 · phrase 1), 100% of answers, 50% heard",
                 "Audio        sent 4.0 s · received 4.0 s · heard 3.2 s",
                 "Timing       ready in 700 ms · idle 5.0 s · last activity ",
                 "Trouble      errors 1 · reconnects 1"):
        assert line in shown, shown


def test_a_session_stored_before_figures_counts_what_its_items_allow(
        two: tuple[str, str]) -> None:
    shown = ok("sessions", "show", two[1])
    assert "Turns        you 2 · assistant 2 · tool calls 0" in shown
    assert "Interrupted  1 (barge-in 1), 50% of answers\n" in shown  # no heard share was kept
    assert "Audio " not in shown and "Trouble " not in shown  # never measured
    assert json.loads(ok("sessions", "show", two[1], "--json"))["figures"] is None


def test_stats_count_failures_crashes_and_interruptions_by_kind(
        two: tuple[str, str], db_file: Path) -> None:
    _failed(db_file)
    conn = sqlite3.connect(db_file)
    with conn:
        conn.execute("UPDATE sessions SET status = 'crashed' WHERE id = ?", (two[0],))
    conn.close()
    data = json.loads(ok("stats", "--json"))
    assert (data["sessions"], data["failed"], data["crashed"]) == (3, 1, 1)
    assert (data["user_turns"], data["assistant_turns"], data["tool_calls"]) == (7, 6, 1)
    assert data["interruptions"] == 4
    assert data["interruptions_by_kind"] == {"speech_overlap": 3, "cancel_request": 1,
                                             "manual_cancel": 0}
    assert data["interrupt_rate"] == pytest.approx(4 / 6)
    assert data["heard_fraction"] == 0.5  # only the session that kept it
    assert (data["errors"], data["reconnects"], data["rollovers"]) == (1, 1, 0)
    text = ok("stats")
    assert "Sessions        3 (failed 1, crashed 1)" in text
    assert "Turns           you 7 · assistant 6 · tool calls 1" in text
    assert "Interruptions   4 (barge-in 3 · phrase 1), 67% of answers, 50% heard" in text
    assert "Trouble         errors 1 · reconnects 1" in text
