"""`rt talk` / `rt resume` flags for where to connect and what to record: Azure without a
transcription deployment transcribes nothing and is priced by the model the user names, a key
is refused over plain ws:// to another host unless --allow-insecure, and --trace/--trace-audio
reach the TalkPlan typed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from realtime_cli.cli.talk_cmd import TalkFlags, talk, talk_plan
from realtime_cli.errors import ConfigError
from realtime_cli.runtime.launch import TalkPlan
from realtime_cli.runtime.resume import StoredConversation

URL = "ws://127.0.0.1:9/v1/realtime"
AZURE = "https://res.openai.azure.com"
KEY = "sk-test-0123456789abcdefghij"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real config file, RT_* variable or key reaches the plan."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for name in [n for n in os.environ if n.startswith(("RT_", "OPENAI_", "AZURE_OPENAI_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-key")


def azure(**flags: Any) -> TalkPlan:
    return talk_plan(TalkFlags(azure_endpoint=AZURE, azure_deployment="my-rt", **flags))


def test_azure_transcribes_nothing_unless_a_transcription_deployment_is_given() -> None:
    plan = azure()
    assert plan.config.transcription_model is None
    assert plan.config.session_payload()["audio"]["input"]["transcription"] is None
    plan = azure(azure_transcription_deployment="my-asr")
    assert plan.config.transcription_model == "my-asr"
    assert plan.config.session_payload()["audio"]["input"]["transcription"] == {"model": "my-asr"}
    assert azure(azure_transcription_deployment="my-asr",
                 no_transcription=True).config.transcription_model is None


def test_azure_ignores_a_transcription_model_meant_for_openai(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RT_TRANSCRIPTION_MODEL", "gpt-4o-transcribe")
    assert azure().config.transcription_model is None
    assert talk_plan(TalkFlags(url=URL)).config.transcription_model == "gpt-4o-transcribe"


def test_azure_is_priced_by_the_model_the_user_names_not_the_deployment() -> None:
    assert azure().config.model == "azure:my-rt"  # in no price table: cost n/a
    assert azure(azure_model="gpt-realtime-mini").config.model == "gpt-realtime-mini"
    named = talk_plan(TalkFlags(azure_endpoint=AZURE, azure_deployment="gpt-realtime"))
    assert named.config.model == "azure:gpt-realtime"  # a deployment's name proves nothing
    assert named.endpoint.url.endswith("/openai/v1/realtime?model=gpt-realtime")


def test_azure_model_and_transcription_deployment_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RT_AZURE_MODEL", "gpt-realtime")
    monkeypatch.setenv("RT_AZURE_TRANSCRIPTION_DEPLOYMENT", "asr")
    plan = azure()
    assert (plan.config.model, plan.config.transcription_model) == ("gpt-realtime", "asr")
    assert talk_plan(TalkFlags(url=URL)).config.model == "gpt-realtime"  # Azure only


def test_azure_model_from_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "rt.toml"
    conf.write_text('[azure]\nmodel = "gpt-realtime-mini"\ntranscription_deployment = "asr"\n')
    monkeypatch.setenv("RT_CONFIG", str(conf))
    plan = azure()
    assert (plan.config.model, plan.config.transcription_model) == ("gpt-realtime-mini", "asr")


def test_model_flag_on_azure_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError) as info:
        azure(model="gpt-realtime")
    assert info.value.message == ("--model names an OpenAI model; on Azure name the deployment "
                                  "(--azure-deployment) and the model behind it (--azure-model)")


def test_a_resumed_azure_session_keeps_its_model_unless_one_is_named() -> None:
    stored = StoredConversation(session_id="ab" * 16, history=(), next_seq=3, settings=(
        MappingProxyType({"model": "gpt-realtime", "transcription_model": "gpt-4o-transcribe"})))
    plan = talk_plan(TalkFlags(azure_endpoint=AZURE, azure_deployment="d"), stored)
    assert (plan.config.model, plan.config.transcription_model) == ("gpt-realtime", None)
    plan = talk_plan(TalkFlags(azure_endpoint=AZURE, azure_deployment="d",
                               azure_model="gpt-realtime-mini"), stored)
    assert plan.config.model == "gpt-realtime-mini"


def test_a_key_over_plain_ws_to_another_host_needs_allow_insecure(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    far = "ws://rt.example:8765/v1/realtime"
    with pytest.raises(ConfigError, match="unencrypted ws://"):
        talk_plan(TalkFlags(url=far))
    plan = talk_plan(TalkFlags(url=far, allow_insecure=True))
    assert plan.endpoint.headers["Authorization"] == f"Bearer {KEY}"


def test_trace_flags_reach_the_plan(tmp_path: Path) -> None:
    plan = talk_plan(TalkFlags(url=URL))
    assert (plan.trace_path, plan.trace_audio) == (None, False)
    plan = talk_plan(TalkFlags(url=URL, trace=tmp_path / "wire.jsonl"))
    assert (plan.trace_path, plan.trace_audio) == (tmp_path / "wire.jsonl", False)
    plan = talk_plan(TalkFlags(url=URL, trace=tmp_path / "wire.jsonl", trace_audio=True))
    assert (plan.trace_path, plan.trace_audio) == (tmp_path / "wire.jsonl", True)


@pytest.mark.parametrize(("flags", "message"), [
    (TalkFlags(url=URL, trace_audio=True), "--trace-audio needs --trace FILE"),
    (TalkFlags(url=URL, trace=Path("/no/such/dir/wire.jsonl")),
     "trace directory not found: /no/such/dir"),
])
def test_bad_trace_flags_are_one_line_errors(flags: TalkFlags, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        talk_plan(flags)
    assert info.value.message == message


def test_the_command_line_flags_become_talk_flags(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    plans: list[TalkPlan] = []

    def fake_run(plan: TalkPlan) -> int:
        plans.append(plan)
        return 0

    monkeypatch.setattr("realtime_cli.runtime.launch.run_talk", fake_run)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("talk")(talk)
    trace = tmp_path / "t.jsonl"
    result = CliRunner().invoke(app, [
        "talk", "--url", "ws://rt.example:1/v1/realtime", "--allow-insecure", "--trace",
        str(trace), "--trace-audio", "--no-save"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(app, [
        "talk", "--azure-endpoint", AZURE, "--azure-deployment", "dep", "--azure-model",
        "gpt-realtime", "--azure-transcription-deployment", "asr", "--no-save"])
    assert result.exit_code == 0, result.output
    first, second = plans
    assert (first.trace_path, first.trace_audio, first.endpoint.host) == (trace, True, "rt.example")
    assert (second.config.model, second.config.transcription_model) == ("gpt-realtime", "asr")


def test_rt_talk_refuses_the_key_over_plain_ws_in_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RT_", "OPENAI_", "AZURE_"))}
    env.update(OPENAI_API_KEY=KEY, RT_CONFIG=os.devnull, NO_COLOR="1")
    done = subprocess.run([str(Path(sys.executable).parent / "rt"), "talk", "--url",
                           "ws://rt.example:8765/v1/realtime", "--no-save"],
                          capture_output=True, text=True, env=env, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "rt: refusing to send the API key over unencrypted ws:// to rt.example: use wss://, "
        "or --allow-insecure on a network you trust"]
    assert KEY not in done.stderr + done.stdout
