"""Settings: precedence, file errors, secrets refused, tools and prices; `rt config` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from realtime_cli.audio.options import PREBUFFER, AudioOptions
from realtime_cli.cli.config_cmd import (
    config_app,
    dump_toml,
    example_config,
    mask_secret,
    toml_value,
)
from realtime_cli.core.config import END_CONVERSATION, SessionConfig
from realtime_cli.errors import ConfigError
from realtime_cli.settings import (
    ENV_CONFIG,
    ENV_VARS,
    SETTINGS,
    config_path,
    defaults,
    load_settings,
)

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789wxyz"


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The default location points into the test's directory, never at a real user's file."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return tmp_path / "config.toml"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def one_line(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ path and defaults


def test_config_path_default_and_override(tmp_path: Path) -> None:
    assert config_path({}) == tmp_path / "xdg" / "rt" / "config.toml"
    assert config_path({ENV_CONFIG: str(tmp_path / "x.toml")}) == tmp_path / "x.toml"
    assert config_path({ENV_CONFIG: "~/rt.toml"}) == Path.home() / "rt.toml"


def test_defaults_are_sessionconfigs_own() -> None:
    settings = load_settings({}, env={})
    assert settings.session_config() == SessionConfig()
    assert settings.path is None
    assert (settings.audio.input_device, settings.audio.output_device) == (None, None)
    assert (settings.audio.prebuffer_ms, settings.keep_audio) == (80.0, True)
    assert settings.tool_decls == () and settings.prices is None
    assert set(settings.sources.values()) == {"default"}


def test_missing_default_file_is_fine_but_a_named_one_is_not(cfg: Path) -> None:
    assert load_settings({}, env={}).path is None
    assert load_settings({}, env={}, path=cfg, missing_ok=True).path is None
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings({}, env={}, path=cfg)
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings({}, env={ENV_CONFIG: str(cfg)})


def test_the_default_location_is_read(tmp_path: Path) -> None:
    path = tmp_path / "xdg" / "rt" / "config.toml"
    path.parent.mkdir(parents=True)
    write(path, 'voice = "sage"\n')
    s = load_settings({}, env={})
    assert s.path == path and s.session_config().voice == "sage"


# ------------------------------------------------------------------ precedence


def test_file_env_flag_precedence(cfg: Path) -> None:
    write(cfg, """
model = "gpt-realtime-mini"
voice = "cedar"
instructions = "from the file"

[turn_detection]
type = "semantic_vad"
threshold = 0.3
silence_duration_ms = 700
""")
    env = {"RT_VOICE": "ash", "RT_VAD_THRESHOLD": "0.7", "RT_TURN_DETECTION": "server_vad"}
    flags = {"threshold": 0.9, "model": None}  # None: flag not given
    s = load_settings(flags, env=env, path=cfg)
    c = s.session_config()
    assert c.model == "gpt-realtime-mini"  # file
    assert c.voice == "ash"  # env beats file
    assert c.threshold == 0.9  # flag beats env
    assert c.turn_detection == "server_vad"
    assert c.silence_duration_ms == 700
    assert c.prefix_padding_ms == 300  # default
    assert s.sources["model"] == "file"
    assert s.sources["voice"] == "env RT_VOICE"
    assert s.sources["threshold"] == "flag"
    assert s.sources["prefix_padding_ms"] == "default"
    assert s.path == cfg


def test_every_setting_has_an_env_var_and_they_parse(cfg: Path) -> None:
    env = {
        "RT_PROVIDER": "openai", "RT_MODEL": "m1", "RT_VOICE": "verse", "RT_INSTRUCTIONS": "be brief",
        "RT_OUTPUT": "text", "RT_END_CONVERSATION_TOOL": "no", "RT_SPEED": "1.25",
        "RT_MAX_OUTPUT_TOKENS": "512", "RT_STOP_PHRASES": "halt, enough already,",
        "RT_TURN_DETECTION": "server_vad", "RT_VAD_THRESHOLD": "0.6",
        "RT_VAD_PREFIX_PADDING_MS": "200", "RT_VAD_SILENCE_DURATION_MS": "800",
        "RT_VAD_CREATE_RESPONSE": "false", "RT_VAD_INTERRUPT_RESPONSE": "0", "RT_BARGE_IN": "off",
        "RT_VAD_IDLE_TIMEOUT_MS": "6000", "RT_VAD_EAGERNESS": "high",
        "RT_TRANSCRIPTION_MODEL": "none", "RT_TRANSCRIPTION_LANGUAGE": "fr",
        "RT_NOISE_REDUCTION": "far_field", "RT_INPUT_DEVICE": "2", "RT_OUTPUT_DEVICE": "pulse:x",
        "RT_PREBUFFER_MS": "100", "RT_OUTPUT_BLOCK_MS": "10", "RT_KEEP_AUDIO": "off",
        "RT_IDLE_TIMEOUT_S": "off",
        "RT_ECHO": "half-duplex",
        "RT_TOTAL_TIMEOUT_S": "600", "RT_RESPONSE_TIMEOUT_S": "30",
        "RT_CONNECTION_TIMEOUT_S": "5", "RT_ROLLOVER_MARGIN_S": "60",
        "RT_MAX_RECONNECT_ATTEMPTS": "2", "RT_REPLAY_MAX_TURNS": "10",
        "RT_AZURE_MODEL": "gpt-realtime-mini", "RT_AZURE_TRANSCRIPTION_DEPLOYMENT": "my-asr",
    }
    assert set(env) | {ENV_CONFIG} == set(ENV_VARS)
    s = load_settings({}, env=env, path=None)
    c = s.session_config()
    assert (c.provider, c.model, c.voice, c.instructions, c.output_modalities) == (
        "openai", "m1", "verse", "be brief", ("text",))
    assert not c.builtin_end_tool and c.all_tools() == ()
    assert (c.speed, c.max_output_tokens, c.stop_phrases) == (1.25, 512,
                                                               ("halt", "enough already"))
    assert (c.threshold, c.prefix_padding_ms, c.silence_duration_ms) == (0.6, 200, 800)
    assert (c.create_response, c.interrupt_response, c.idle_timeout_ms, c.eagerness) == (
        False, False, 6000, "high")
    assert c.barge_in is False
    assert (c.transcription_model, c.transcription_language, c.noise_reduction) == (
        None, "fr", "far_field")
    assert (c.idle_timeout_s, c.total_timeout_s, c.response_timeout_s) == (None, 600.0, 30.0)
    assert (c.connection_timeout_s, c.rollover_margin_s) == (5.0, 60.0)
    assert (c.max_reconnect_attempts, c.replay_max_turns) == (2, 10)
    assert (s.audio.input_device, s.audio.output_device, s.audio.prebuffer_ms, s.keep_audio) == (
        "2", "pulse:x", 100.0, False)
    assert (s.audio.output_block_ms, s.audio.echo) == (10.0, "half-duplex")
    assert (s.azure_model, s.azure_transcription_deployment) == ("gpt-realtime-mini", "my-asr")


def test_runner_style_overrides() -> None:
    """The keys and values `rt talk` passes (see cli/talk_cmd.py)."""
    s = load_settings({"transcription_model": "", "interrupt_response": False,
                       "keep_audio": False, "prebuffer_ms": 100, "total_timeout_s": 12.5,
                       "replay_max_turns": 3, "input_device": "USB", "silence_duration_ms": 900,
                       "turn_detection.eagerness": "low"}, env={}, path=None)
    c = s.session_config()
    assert c.transcription_model is None and not c.interrupt_response
    assert (c.total_timeout_s, c.replay_max_turns, c.silence_duration_ms, c.eagerness) == (
        12.5, 3, 900, "low")
    assert (s.keep_audio, s.audio.prebuffer_ms, s.audio.input_device) == (False, 100.0, "USB")
    with pytest.raises(ValueError, match="unknown setting 'colour'"):
        load_settings({"colour": "red"}, env={}, path=None)


# ------------------------------------------------------------------ bad values


def test_bad_range_raises_from_sessionconfig_naming_field_and_source(cfg: Path) -> None:
    write(cfg, "[turn_detection]\nthreshold = 1.5\n")
    s = load_settings({}, env={}, path=cfg)  # types are fine: loading succeeds
    with pytest.raises(ConfigError) as info:
        s.session_config()
    assert one_line(info) == (f"invalid turn_detection.threshold: must be between 0 and 1 "
                              f"(in {cfg})")
    with pytest.raises(ConfigError, match=r"invalid voice: must be one of .* \(from RT_VOICE\)"):
        load_settings({}, env={"RT_VOICE": "robot"}, path=None).session_config()
    with pytest.raises(ConfigError, match=r"invalid speed: .* \(from the command line\)"):
        load_settings({"speed": 9.0}, env={}, path=None).session_config()
    with pytest.raises(ConfigError, match=r"invalid response_timeout: must be positive"):
        load_settings({}, env={"RT_RESPONSE_TIMEOUT_S": "0"}, path=None).session_config()


@pytest.mark.parametrize(("text", "message"), [
    ('speed = "fast"', "invalid speed in {path}: expected a number"),
    ("[turn_detection]\nprefix_padding_ms = 2.5", "invalid turn_detection.prefix_padding_ms in"
                                                  " {path}: expected an integer"),
    ("[audio]\nkeep_audio = 1", "invalid audio.keep_audio in {path}: expected true or false"),
    ("stop_phrases = \"stop\"", "invalid stop_phrases in {path}: expected a list of strings"),
    ("[audio]\ninput_device = true", "invalid audio.input_device in {path}"),
    ("turn_detection = 3", "{path}: turn_detection must be a table"),
])
def test_wrong_types_in_the_file(cfg: Path, text: str, message: str) -> None:
    write(cfg, text + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings({}, env={}, path=cfg)
    assert message.format(path=cfg) in one_line(info)


def test_wrong_type_in_env() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({}, env={"RT_VAD_THRESHOLD": "high"}, path=None)
    assert one_line(info) == ("invalid turn_detection.threshold (RT_VAD_THRESHOLD): "
                              "expected a number, not 'high'")
    with pytest.raises(ConfigError, match="RT_KEEP_AUDIO"):
        load_settings({}, env={"RT_KEEP_AUDIO": "maybe"}, path=None)
    with pytest.raises(ConfigError, match="finite"):
        load_settings({}, env={"RT_SPEED": "nan"}, path=None)


@pytest.mark.parametrize(("line", "message"), [
    ("prebuffer_ms = 5000", "audio.prebuffer_ms: must be between 60 and 120"),
    ("output_block_ms = 1", "audio.output_block_ms: must be between 2.5 and 50"),
    ("echo = 'loud'", "audio.echo: 'loud' is not one of aec, aec3, speex, half-duplex, off"),
])
def test_audio_ranges_are_checked_here(cfg: Path, line: str, message: str) -> None:
    write(cfg, f"[audio]\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_settings({}, env={}, path=cfg)
    assert message in one_line(info)
    assert one_line(info).endswith(f" (in {cfg})")


def test_audio_options_are_checked_where_they_are_defined() -> None:
    """The devices trust AudioOptions: a bad value cannot be built, whoever builds it."""
    assert AudioOptions() == load_settings({}, env={}, path=None).audio
    assert defaults()["prebuffer_ms"] == PREBUFFER.default
    with pytest.raises(ConfigError, match=r"^invalid audio.prebuffer_ms: must be between 60 and 120$"):
        AudioOptions(prebuffer_ms=59.9)
    with pytest.raises(ConfigError, match=r"^invalid audio.echo: 'loud' is not one of aec, "):
        AudioOptions(echo="loud")
    with pytest.raises(ConfigError, match=r"invalid audio.output_block_ms: .* \(from RT_OUTPUT_BLOCK_MS\)"):
        load_settings({}, env={"RT_OUTPUT_BLOCK_MS": "60"}, path=None)
    assert f"Audio queued before playback starts, {PREBUFFER.span}." in example_config()


@pytest.mark.parametrize(("text", "key"), [
    ("modle = 'x'", "'modle'"),
    ("[turn_detection]\nthreshhold = 0.5", "'turn_detection.threshhold'"),
    ("[vad]\nthreshold = 0.5", "'vad'"),
])
def test_unknown_keys_name_the_key_and_the_file(cfg: Path, text: str, key: str) -> None:
    write(cfg, text + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings({}, env={}, path=cfg)
    message = one_line(info)
    assert str(cfg) in message and f"unknown key {key}" in message


def test_invalid_toml_is_one_line_with_the_line_number(cfg: Path) -> None:
    write(cfg, 'model = "gpt-realtime"\nvoice = \n')
    with pytest.raises(ConfigError) as info:
        load_settings({}, env={}, path=cfg)
    message = one_line(info)
    assert message.startswith(f"{cfg}: invalid TOML:") and "line 2" in message


def test_unreadable_and_non_utf8(cfg: Path) -> None:
    cfg.write_bytes(b"model = '\xff'\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings({}, env={}, path=cfg)
    directory = cfg.parent / "dir.toml"
    directory.mkdir()
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings({}, env={}, path=directory)


@pytest.mark.parametrize("text", [
    f'api_key = "{KEY}"',
    f'openai_api_key = "{KEY}"',
    f'[audio]\napi-key = "{KEY}"',
    f'[[tools]]\nname = "x"\ncommand = ["x"]\ntoken = "{KEY}"',
])
def test_secrets_in_the_file_are_refused_without_echoing_them(cfg: Path, text: str) -> None:
    write(cfg, text + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings({}, env={}, path=cfg)
    message = one_line(info)
    assert "OPENAI_API_KEY" in message and "environment" in message
    assert KEY not in message


def test_api_key_from_env_is_not_a_setting() -> None:
    s = load_settings({}, env={"OPENAI_API_KEY": KEY}, path=None)
    assert KEY not in repr(s) and KEY not in json.dumps(s.as_tree())


# ------------------------------------------------------------------ tools and prices


TOOLS = """
[[tools]]
name = "local_time"
description = "The time."
parameters = { type = "object", properties = { tz = { type = "string" } } }
command = ["python3", "-c", "print(1)"]

[[tools]]
name = "weather"
command = "weather-cli --json"
timeout_s = 2.5
"""


def test_tools_become_specs_in_the_session_config(cfg: Path) -> None:
    s = load_settings({}, env={}, path=write(cfg, TOOLS))
    assert [d.name for d in s.tool_decls] == ["local_time", "weather"]
    assert s.tool_decls[1].command == ("weather-cli", "--json")
    assert s.tool_decls[1].timeout_s == 2.5 and s.tool_decls[0].timeout_s == 10.0
    specs = s.tool_specs()
    assert specs[0].parameters["properties"] == {"tz": {"type": "string"}}
    c = s.session_config()
    assert c.tools == specs
    assert [t.name for t in c.all_tools()] == ["local_time", "weather", END_CONVERSATION.name]


@pytest.mark.parametrize(("text", "message"), [
    ('[[tools]]\nname = "a"\ncommand = ["x"]\n[[tools]]\nname = "a"\ncommand = ["y"]',
     "tool name 'a' is declared twice"),
    ('[[tools]]\nname = "a"', "tools[1].command"),
    ('[[tools]]\nname = "end_conversation"\ncommand = ["x"]', "built in"),
    ('tools = "x"', "tools must be an array of tables"),
])
def test_bad_tools(cfg: Path, text: str, message: str) -> None:
    write(cfg, text + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings({}, env={}, path=cfg)
    assert message in one_line(info) and str(cfg) in one_line(info)


def test_price_overrides(cfg: Path) -> None:
    write(cfg, """
[prices."gpt-realtime"]
audio_in = 30

[prices.my-model]
text_in = 1.0
cached_text_in = 0.1
audio_in = 2.0
cached_audio_in = 0.2
text_out = 3.0
audio_out = 4.0
""")
    s = load_settings({}, env={}, path=cfg)
    assert s.prices == {"gpt-realtime": {"audio_in": 30.0}, "my-model": {
        "text_in": 1.0, "cached_text_in": 0.1, "audio_in": 2.0, "cached_audio_in": 0.2,
        "text_out": 3.0, "audio_out": 4.0}}
    table = s.price_table()
    assert table["gpt-realtime"].audio_in == 30.0 and table["gpt-realtime"].text_in == 4.0
    assert table["my-model"].audio_out == 4.0


@pytest.mark.parametrize(("text", "message"), [
    ('[prices."gpt-realtime"]\naudio_inn = 3', "unknown field 'audio_inn'"),
    ('[prices.new]\ntext_in = 1', "pricing for new: missing"),
    ('[prices."gpt-realtime"]\naudio_in = "cheap"', "prices.gpt-realtime.audio_in"),
    ('[prices."gpt-realtime"]\naudio_in = -1', "a number >= 0"),
    ('prices = 3', "prices must hold one table per model"),
])
def test_bad_prices(cfg: Path, text: str, message: str) -> None:
    write(cfg, text + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings({}, env={}, path=cfg)
    assert message in one_line(info) and str(cfg) in one_line(info)


# ------------------------------------------------------------------ rt config


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    for name in [*ENV_VARS, "OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_CONFIG, str(tmp_path / "conf" / "config.toml"))
    return CliRunner()


def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """rt."""

    root.add_typer(config_app, name="config")
    return root


def test_config_path(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app(), ["config", "path"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(tmp_path / "conf" / "config.toml")


def test_config_init_writes_an_example_and_refuses_to_overwrite(runner: CliRunner,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "conf" / "config.toml"
    result = runner.invoke(app(), ["config", "init"])
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert text == example_config()
    result = runner.invoke(app(), ["config", "init"])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "--force" in str(result.exception)
    path.write_text("# mine\n")
    result = runner.invoke(app(), ["config", "init", "--force"])
    assert result.exit_code == 0 and path.read_text() == text


def test_example_file_is_a_no_op_and_every_value_in_it_is_valid(tmp_path: Path) -> None:
    text = example_config()
    path = write(tmp_path / "example.toml", text)
    assert load_settings({}, env={}, path=path).session_config() == SessionConfig()
    for s in SETTINGS:
        assert s.env in text and f"#{s.key.rpartition('.')[2]} = " in text
    assert "api_key" not in text.lower().replace("openai_api_key", "")
    uncommented = "\n".join(line[1:] if line.startswith("#") and not line.startswith("# ")
                            and line != "#" else line for line in text.splitlines())
    full = load_settings({}, env={}, path=write(tmp_path / "all.toml", uncommented))
    config = full.session_config()  # every example value passes SessionConfig's validation
    assert config.max_output_tokens == 1024 and [t.name for t in config.tools] == ["local_time"]
    assert full.prices is not None and "gpt-realtime" in full.prices


def test_config_show_toml_round_trips_with_sources_and_masked_keys(
        runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_conf(tmp_path, 'voice = "cedar"\n[transcription]\nmodel = "none"\n' + TOOLS)
    monkeypatch.setenv("RT_MODEL", "gpt-realtime-mini")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    result = runner.invoke(app(), ["config", "show"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert KEY not in out
    assert "# OPENAI_API_KEY: sk-...wxyz" in out
    assert "# AZURE_OPENAI_API_KEY: <not set>" in out
    assert f"# config file: {path}" in out
    assert 'model = "gpt-realtime-mini"  # env RT_MODEL' in out
    assert 'voice = "cedar"  # file' in out
    assert "threshold = 0.5  # default" in out
    parsed = tomllib.loads(out)
    assert parsed["transcription"]["model"] == "none"
    assert parsed["tools"][1]["command"] == ["weather-cli", "--json"]
    again = load_settings({}, env={}, path=write(tmp_path / "again.toml", out))
    original = load_settings({}, env={"RT_MODEL": "gpt-realtime-mini"}, path=path)
    assert again.session_config() == original.session_config()
    assert again.tool_decls == original.tool_decls


def write_conf(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write(path, text)


def test_config_show_json(runner: CliRunner, tmp_path: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "short")
    result = runner.invoke(app(), ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["config_file_found"] is False
    assert data["settings"]["model"] == "gpt-realtime"
    assert data["settings"]["turn_detection"]["type"] == "server_vad"
    assert data["sources"]["turn_detection.threshold"] == "default"
    assert data["secrets"] == {"OPENAI_API_KEY": "<not set>", "AZURE_OPENAI_API_KEY": "<set>"}


def test_config_show_reports_an_invalid_value(runner: CliRunner, tmp_path: Path) -> None:
    write_conf(tmp_path, "speed = 3.0\n")
    result = runner.invoke(app(), ["config", "show"])
    assert result.exit_code == 2
    assert "speed = 3.0  # file" in result.stdout
    assert "invalid speed: must be between 0.25 and 1.5" in result.stderr


def test_mask_secret() -> None:
    assert mask_secret(None) == "<not set>" and mask_secret("") == "<not set>"
    assert mask_secret("sk-short") == "<set>"
    assert mask_secret(KEY) == "sk-...wxyz"


def test_toml_writer_quotes_and_nests() -> None:
    assert toml_value('say "hi"\n') == '"say \\"hi\\"\\n"'
    assert toml_value({"a.b": [1, 2.5, True]}) == '{ "a.b" = [1, 2.5, true] }'
    tree = {"x": 1, "sec": {"y": "z"}, "prices": {"gpt-4o.x": {"text_in": 1.0}},
            "tools": [{"name": "t", "parameters": {"type": "object"}}]}
    assert tomllib.loads(dump_toml(tree)) == tree


def test_config_module_imports_stay_light() -> None:
    code = ("import sys; import realtime_cli.cli.config_cmd; "
            "print(sorted(m for m in ('numpy', 'sounddevice', 'websockets', 'asyncio', "
            "'realtime_cli.settings') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.stdout.strip() == "[]"



def test_gemini_takes_its_own_model_and_voice_unless_they_are_chosen(cfg: Path) -> None:
    c = load_settings({"provider": "gemini"}, env={}, path=None).session_config()
    assert (c.provider, c.model, c.voice) == ("gemini", "gemini-3.8-live", "Puck")
    c = load_settings({"provider": "gemini", "voice": "Kore"}, env={}, path=None).session_config()
    assert c.voice == "Kore"
    with pytest.raises(ConfigError, match="invalid voice: must be one of Zephyr, Puck"):
        load_settings({"provider": "gemini", "voice": "marin"}, env={}, path=None).session_config()
