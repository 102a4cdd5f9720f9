"""`rt talk` / `rt resume` flags become a TalkPlan: typed flags, settings below them, and a
stored conversation's settings between the two when resuming."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from types import MappingProxyType

import pytest

from realtime_cli.audio.options import AudioOptions
from realtime_cli.cli.talk_cmd import TalkFlags, talk_plan
from realtime_cli.core.history import HistoryEntry
from realtime_cli.core.records import ItemKind, ItemRecord, SessionEnded, SessionStarted, SessionStatus
from realtime_cli.errors import ConfigError, StorageError
from realtime_cli.runtime.resume import StoredConversation, load_stored_conversation
from realtime_cli.storage.journal import JournalWriter
from realtime_cli.storage.paths import db_path

URL = "ws://127.0.0.1:9/v1/realtime"


@pytest.fixture(autouse=True)
def no_user_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real config file and no RT_* variable reach the plan."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("RT_CONFIG", raising=False)
    for name in [n for n in os.environ if n.startswith("RT_")]:
        monkeypatch.delenv(name)


def test_flags_become_typed_options(tmp_path: Path) -> None:
    wav = tmp_path / "q.wav"
    wav.write_bytes(b"")
    plan = talk_plan(TalkFlags(url=URL, input_wav=wav, output_wav=tmp_path / "a.wav",
                               prebuffer_ms=100.0, echo="off", output_device="3",
                               no_audio=True, no_save=True, plain=True, max_turns=2,
                               duration=30.0, silence_ms=700, no_transcription=True,
                               no_server_interrupt=True, data_dir=str(tmp_path)))
    assert plan.audio == AudioOptions(prebuffer_ms=100.0, echo="off", output_device="3")
    assert (plan.keep_audio, plan.journal, plan.dashboard, plan.json_lines) == (
        False, False, False, False)
    assert (plan.input_wav, plan.output_wav, plan.max_turns, plan.data_dir) == (
        wav, tmp_path / "a.wav", 2, str(tmp_path))
    c = plan.config
    assert (c.total_timeout_s, c.silence_duration_ms, c.transcription_model,
            c.interrupt_response) == (30.0, 700, None, False)
    assert plan.endpoint.url.startswith(URL) and not plan.resumed and plan.history == ()


def test_the_command_channel_means_lines_not_the_dashboard() -> None:
    plan = talk_plan(TalkFlags(url=URL, control="stdin"))
    assert (plan.control, plan.dashboard, plan.json_lines) == ("stdin", False, False)
    assert talk_plan(TalkFlags(url=URL)).control is None


def test_barge_in_and_timeout_flags_set_the_session_config() -> None:
    c = talk_plan(TalkFlags(url=URL, barge_in="off", idle_timeout=7.5, response_timeout=3.0,
                            connect_timeout=2.0)).config
    assert (c.barge_in, c.idle_timeout_s, c.response_timeout_s, c.connection_timeout_s) == (
        False, 7.5, 3.0, 2.0)
    assert c.turn_detection_payload() is not None
    assert c.turn_detection_payload()["interrupt_response"] is False  # type: ignore[index]
    assert talk_plan(TalkFlags(url=URL, barge_in="on")).config.barge_in is True
    defaults = talk_plan(TalkFlags(url=URL)).config
    assert (defaults.barge_in, defaults.idle_timeout_s, defaults.response_timeout_s,
            defaults.connection_timeout_s) == (True, 300.0, 20.0, 10.0)


def test_barge_in_and_timeouts_come_from_the_config_file_too(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text("barge_in = false\n[timeouts]\nidle_s = 9.0\nresponse_s = 4.0\n"
                      "connection_s = 3.0\n")
    monkeypatch.setenv("RT_CONFIG", str(config))
    c = talk_plan(TalkFlags(url=URL)).config
    assert (c.barge_in, c.idle_timeout_s, c.response_timeout_s, c.connection_timeout_s) == (
        False, 9.0, 4.0, 3.0)
    assert talk_plan(TalkFlags(url=URL, barge_in="on", idle_timeout=2.0)).config.barge_in is True


def test_unset_flags_leave_the_defaults() -> None:
    assert TalkFlags().setting_overrides() == {}
    plan = talk_plan(TalkFlags(url=URL, json_lines=True))
    assert plan.audio == AudioOptions() and plan.keep_audio and plan.journal
    assert plan.dashboard is False and plan.json_lines


@pytest.mark.parametrize(("flags", "message"), [
    (TalkFlags(url=URL, prebuffer_ms=300.0),
     "invalid audio.prebuffer_ms: must be between 60 and 120 (from the command line)"),
    (TalkFlags(url=URL, echo="loud"),
     "invalid audio.echo: 'loud' is not one of aec, aec3, speex, half-duplex, off (from the command line)"),
    (TalkFlags(url=URL, input_wav=Path("/no/such.wav")), "input WAV not found: /no/such.wav"),
    (TalkFlags(url=URL, control="tcp"), "--control must be stdin, not 'tcp'"),
    (TalkFlags(url=URL, barge_in="maybe"),
     "invalid barge_in (from the command line): expected true or false, not 'maybe'"),
])
def test_bad_flags_are_one_line_config_errors(flags: TalkFlags, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        talk_plan(flags)
    assert str(info.value) == message


def test_a_resumed_plan_continues_the_stored_conversation_flags_first() -> None:
    history = (HistoryEntry(local_id="u1", kind=ItemKind.USER_TEXT, text="hello"),)
    stored = StoredConversation(
        session_id="3f2a" * 8, history=history, next_seq=7,
        settings=MappingProxyType({"voice": "cedar", "model": "gpt-realtime-mini",
                                   "silence_duration_ms": 900, "transcription_model": ""}))
    plan = talk_plan(TalkFlags(url=URL, silence_ms=400), stored)
    assert (plan.session_id, plan.history, plan.next_seq, plan.resumed) == (
        "3f2a" * 8, history, 7, True)
    c = plan.config
    assert (c.voice, c.model, c.transcription_model) == ("cedar", "gpt-realtime-mini", None)
    assert c.silence_duration_ms == 400  # the flag beats what the stored session kept


def test_resume_keeps_the_whole_session_config_and_flags_override(tmp_path: Path) -> None:
    from realtime_cli.core.config import SessionConfig

    original = SessionConfig(
        stop_phrases=("halt",), output_modalities=("text",), transcription_language="fr",
        idle_timeout_s=42.0, response_timeout_s=7.0, connection_timeout_s=3.0, barge_in=False,
        builtin_end_tool=False, voice="cedar")
    sid = uuid.uuid4().hex
    with JournalWriter(db_path(str(tmp_path))) as journal:
        journal.submit(SessionStarted(session_id=sid, created_at=100.0, model=original.model,
                                      voice=original.voice, instructions=original.instructions,
                                      config=original.to_dict()))
        journal.submit(SessionEnded(session_id=sid, ended_at=101.0, status=SessionStatus.ENDED,
                                    reason="quit by user"))
    stored = load_stored_conversation(str(tmp_path), sid[:8])
    c = talk_plan(TalkFlags(url=URL), stored).config
    assert (c.stop_phrases, c.output_modalities, c.transcription_language, c.idle_timeout_s,
            c.response_timeout_s, c.connection_timeout_s, c.barge_in, c.builtin_end_tool) == (
        ("halt",), ("text",), "fr", 42.0, 7.0, 3.0, False, False)
    flagged = talk_plan(TalkFlags(url=URL, barge_in="on", idle_timeout=5.0, response_timeout=2.0,
                                  connect_timeout=1.0), stored).config
    assert (flagged.barge_in, flagged.idle_timeout_s, flagged.response_timeout_s,
            flagged.connection_timeout_s) == (True, 5.0, 2.0, 1.0)
    assert flagged.stop_phrases == ("halt",)


def _store(data_dir: Path, *, ended: bool) -> str:
    sid = uuid.uuid4().hex
    with JournalWriter(db_path(str(data_dir))) as journal:
        journal.submit(SessionStarted(
            session_id=sid, created_at=100.0, model="gpt-realtime-mini", voice="cedar",
            instructions="Be brief.", config={"silence_duration_ms": 900, "speed": 1.2,
                                              "transcription_model": None, "output": "audio"}))
        journal.submit(ItemRecord(session_id=sid, local_id="u1", seq=0, kind=ItemKind.USER_TEXT,
                                  role="user", transcript="hello"))
        journal.submit(ItemRecord(session_id=sid, local_id="a1", seq=1, kind=ItemKind.ASSISTANT,
                                  role="assistant", transcript="Hello, how are you today?",
                                  heard_text="Hello,", truncated=True, audio_ms=800.0))
        if ended:
            journal.submit(SessionEnded(session_id=sid, ended_at=110.0,
                                        status=SessionStatus.ENDED, reason="quit"))
    return sid


def test_a_stored_session_hands_over_history_and_the_settings_it_kept(tmp_path: Path) -> None:
    sid = _store(tmp_path, ended=True)
    stored = load_stored_conversation(str(tmp_path), sid[:6])
    assert (stored.session_id, stored.next_seq) == (sid, 2)
    assert [(h.local_id, h.kind, h.text) for h in stored.history] == [
        ("u1", ItemKind.USER_TEXT, "hello"), ("a1", ItemKind.ASSISTANT, "Hello,")]  # as heard
    assert dict(stored.settings) == {
        "model": "gpt-realtime-mini", "voice": "cedar", "instructions": "Be brief.",
        "silence_duration_ms": 900, "speed": 1.2, "transcription_model": ""}  # "": stays off


def test_a_session_still_open_elsewhere_is_not_resumed(tmp_path: Path) -> None:
    sid = _store(tmp_path, ended=False)  # this process is alive: the session is 'active'
    with pytest.raises(StorageError, match=f"session {sid[:8]} is still open in another rt"):
        load_stored_conversation(str(tmp_path), sid)


def test_resume_restores_the_echo_mode_and_the_tools_it_ran_with(tmp_path: Path) -> None:
    """What the client itself was configured with goes into the journal (no secrets) and
    comes back: the echo mode unless a flag says otherwise, and the tools with their commands."""
    from realtime_cli.core import commands as cmd
    from realtime_cli.core import inputs as inp
    from realtime_cli.core.config import SessionConfig
    from realtime_cli.core.session import SessionCore

    tool = {"name": "get_time", "description": "The time", "command": ["date", "+%H:%M"],
            "parameters": {"type": "object", "properties": {}}, "timeout_s": 5.0}
    core = SessionCore(SessionConfig(), session_id=uuid.uuid4().hex, now=0.0,
                       client={"echo": "half-duplex", "tools": [tool]})
    out = core.handle(inp.Begin(now=0.0, wall=100.0)) + core.handle(inp.Opened(now=0.0))
    [started] = [c.record for c in out if isinstance(c, cmd.Journal)
                 and isinstance(c.record, SessionStarted)]
    with JournalWriter(db_path(str(tmp_path))) as journal:
        journal.submit(started)
        journal.submit(SessionEnded(session_id=started.session_id, ended_at=101.0,
                                    status=SessionStatus.ENDED, reason="quit by user"))
    stored = load_stored_conversation(str(tmp_path), started.session_id[:8])
    plan = talk_plan(TalkFlags(url=URL), stored)
    assert plan.audio.echo == "half-duplex"
    assert [t.name for t in plan.config.tools] == ["get_time"] and plan.tools is not None
    assert plan.client_settings["tools"][0]["command"] == ["date", "+%H:%M"]
    assert talk_plan(TalkFlags(url=URL, echo="off"), stored).audio.echo == "off"
