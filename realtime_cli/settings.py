"""Settings: command-line flags > environment (`RT_*`) > config file (TOML) > built-in defaults.

The config file is `platformdirs.user_config_dir("rt")/config.toml`, or the path in `RT_CONFIG`.
`SETTINGS` below is the one table of every setting: its key in the file, its environment
variable, its type and a line of help. Loading parses types; ranges and choices are checked by
the dataclass that holds the values, `SessionConfig` (on `Settings.session_config()`) and
`AudioOptions` (`realtime_cli.audio.options`, while loading), so each rule lives in one place.

API keys are never read from or written to the file: a key that looks like a secret is refused
with a pointer to the environment (`OPENAI_API_KEY`, `AZURE_OPENAI_API_KEY`).

Environment variables (empty, `none` or `off` clears an optional value; booleans accept
1/0, true/false, yes/no, on/off; `RT_STOP_PHRASES` is comma separated):

    RT_CONFIG                   the config file path
    RT_MODEL RT_VOICE RT_INSTRUCTIONS RT_OUTPUT RT_END_CONVERSATION_TOOL RT_SPEED
    RT_MAX_OUTPUT_TOKENS RT_STOP_PHRASES
    RT_TURN_DETECTION RT_VAD_THRESHOLD RT_VAD_PREFIX_PADDING_MS RT_VAD_SILENCE_DURATION_MS
    RT_VAD_CREATE_RESPONSE RT_VAD_INTERRUPT_RESPONSE RT_VAD_IDLE_TIMEOUT_MS RT_VAD_EAGERNESS
    RT_BARGE_IN RT_TRANSCRIPTION_MODEL RT_TRANSCRIPTION_LANGUAGE
    RT_INPUT_DEVICE RT_OUTPUT_DEVICE RT_PREBUFFER_MS RT_KEEP_AUDIO RT_NOISE_REDUCTION
    RT_IDLE_TIMEOUT_S RT_TOTAL_TIMEOUT_S RT_RESPONSE_TIMEOUT_S RT_CONNECTION_TIMEOUT_S
    RT_ROLLOVER_MARGIN_S RT_MAX_RECONNECT_ATTEMPTS RT_REPLAY_MAX_TURNS
    RT_AZURE_MODEL RT_AZURE_TRANSCRIPTION_DEPLOYMENT
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from realtime_cli.audio.options import OUTPUT_BLOCK, PREBUFFER, AudioOptions
from realtime_cli.core.config import DEFAULT_MODEL, DEFAULT_VOICE, SessionConfig, ToolSpec
from realtime_cli.errors import ConfigError
from realtime_cli.pricing import ModelPrice, price_table
from realtime_cli.secrets_policy import is_secret_name
from realtime_cli.tools import ToolDecl, check_unique

ENV_CONFIG = "RT_CONFIG"
CONFIG_FILENAME = "config.toml"
SECRET_ENV = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY")
_NONE_WORDS = ("", "none", "off", "null")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def default_config_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("rt", appauthor=False)) / CONFIG_FILENAME


def config_path(env: Mapping[str, str] = os.environ) -> Path:
    """The config file to use: `RT_CONFIG` if set, else the platform's config directory."""
    given = env.get(ENV_CONFIG, "").strip()
    return Path(given).expanduser() if given else default_config_path()


# ------------------------------------------------------------------ the table of settings


class _Invalid(Exception):
    """A value of the wrong type; the loader adds where it came from."""


@dataclass(frozen=True, slots=True)
class Kind:
    """How a setting's values are read from TOML and from a string (env), and shown."""

    name: str
    from_toml: Callable[[Any], Any]
    from_text: Callable[[str], Any]
    to_toml: Callable[[Any], Any] = lambda v: v


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise _Invalid(what)


def _toml_str(v: Any) -> str:
    _expect(isinstance(v, str), "expected a string")
    return str(v)


def _toml_int(v: Any) -> int:
    _expect(isinstance(v, int) and not isinstance(v, bool), "expected an integer")
    return int(v)


def _toml_float(v: Any) -> float:
    _expect(isinstance(v, int | float) and not isinstance(v, bool), "expected a number")
    _expect(math.isfinite(float(v)), "expected a finite number")
    return float(v)


def _toml_bool(v: Any) -> bool:
    _expect(isinstance(v, bool), "expected true or false")
    return bool(v)


def _text_int(s: str) -> int:
    try:
        return int(s.strip())
    except ValueError:
        raise _Invalid(f"expected an integer, not {s!r}") from None


def _text_float(s: str) -> float:
    try:
        value = float(s.strip())
    except ValueError:
        raise _Invalid(f"expected a number, not {s!r}") from None
    _expect(math.isfinite(value), f"expected a finite number, not {s!r}")
    return value


def _text_bool(s: str) -> bool:
    word = s.strip().lower()
    _expect(word in _TRUE + _FALSE, f"expected true or false, not {s!r}")
    return word in _TRUE


def _toml_phrases(v: Any) -> tuple[str, ...]:
    _expect(isinstance(v, list) and all(isinstance(p, str) for p in v),
            "expected a list of strings")
    return tuple(p.strip() for p in v if p.strip())


def _text_phrases(s: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in s.split(",") if p.strip())


def _toml_output(v: Any) -> tuple[str, ...]:
    _expect(isinstance(v, str), 'expected "audio" or "text"')
    return (str(v),)


def _toml_device(v: Any) -> str:
    _expect(isinstance(v, str | int) and not isinstance(v, bool),
            "expected a device index or name")
    return str(v)


STR = Kind("string", _toml_str, str)
INT = Kind("integer", _toml_int, _text_int)
FLOAT = Kind("number", _toml_float, _text_float)
BOOL = Kind("boolean", _toml_bool, _text_bool)
PHRASES = Kind("list of strings", _toml_phrases, _text_phrases, list)
OUTPUT = Kind('"audio" or "text"', _toml_output, lambda s: (s.strip(),), lambda v: v[0])
DEVICE = Kind("device index or name", _toml_device, str)


@dataclass(frozen=True, slots=True)
class Setting:
    name: str  # the SessionConfig field or Settings attribute
    key: str  # dotted key in the file: "turn_detection.threshold"
    kind: Kind
    env: str
    help: str
    optional: bool = False  # None is allowed (written "none"/"off" in the file or env)
    session: bool = True  # a SessionConfig field (else a client-side Settings attribute)


def _s(name: str, key: str, kind: Kind, env: str, help: str, **kw: Any) -> Setting:
    return Setting(name, key, kind, f"RT_{env}", help, **kw)


SETTINGS: tuple[Setting, ...] = (
    _s("provider", "provider", STR, "PROVIDER",
       "openai (also Azure and rt serve) or gemini (Gemini Live)."),
    _s("model", "model", STR, "MODEL", "Realtime model; a dated snapshot works too."),
    _s("voice", "voice", STR, "VOICE", "Output voice (fixed once the model has spoken)."),
    _s("instructions", "instructions", STR, "INSTRUCTIONS", "System instructions."),
    _s("output_modalities", "output", OUTPUT, "OUTPUT", 'Reply with "audio" or "text".'),
    _s("builtin_end_tool", "end_conversation_tool", BOOL, "END_CONVERSATION_TOOL",
       "Offer the model the built-in end_conversation tool (say goodbye to hang up)."),
    _s("speed", "speed", FLOAT, "SPEED", "Speech speed, 0.25 to 1.5."),
    _s("max_output_tokens", "max_output_tokens", INT, "MAX_OUTPUT_TOKENS",
       "Cap per response, 1 to 4096 (none: no cap).", optional=True),
    _s("stop_phrases", "stop_phrases", PHRASES, "STOP_PHRASES",
       "Said while the assistant talks, these cancel its reply."),
    _s("barge_in", "barge_in", BOOL, "BARGE_IN",
       "Talking over the assistant stops it (off: it plays on; a manual interrupt still works)."),
    _s("turn_detection", "turn_detection.type", STR, "TURN_DETECTION",
       "server_vad, semantic_vad, or none (push-to-talk with space)."),
    _s("threshold", "turn_detection.threshold", FLOAT, "VAD_THRESHOLD",
       "server_vad: speech probability threshold, 0 to 1."),
    _s("prefix_padding_ms", "turn_detection.prefix_padding_ms", INT, "VAD_PREFIX_PADDING_MS",
       "server_vad: audio kept before speech starts."),
    _s("silence_duration_ms", "turn_detection.silence_duration_ms", INT,
       "VAD_SILENCE_DURATION_MS", "server_vad: silence that ends a turn."),
    _s("create_response", "turn_detection.create_response", BOOL, "VAD_CREATE_RESPONSE",
       "Answer automatically at the end of each turn."),
    _s("interrupt_response", "turn_detection.interrupt_response", BOOL,
       "VAD_INTERRUPT_RESPONSE", "The server cancels a reply when you talk over it."),
    _s("idle_timeout_ms", "turn_detection.idle_timeout_ms", INT, "VAD_IDLE_TIMEOUT_MS",
       "server_vad: prompt after this much silence, 5000 to 30000.", optional=True),
    _s("eagerness", "turn_detection.eagerness", STR, "VAD_EAGERNESS",
       "semantic_vad: low, medium, high or auto."),
    _s("transcription_model", "transcription.model", STR, "TRANSCRIPTION_MODEL",
       "Transcribes what you say (none: no transcript of your speech).", optional=True),
    _s("transcription_language", "transcription.language", STR, "TRANSCRIPTION_LANGUAGE",
       "ISO-639-1 hint such as en (none: detect).", optional=True),
    _s("noise_reduction", "audio.noise_reduction", STR, "NOISE_REDUCTION",
       "near_field, far_field or none.", optional=True),
    _s("input_device", "audio.input_device", DEVICE, "INPUT_DEVICE",
       "Microphone: index or name substring (rt devices).", optional=True, session=False),
    _s("output_device", "audio.output_device", DEVICE, "OUTPUT_DEVICE",
       "Speaker: index or name substring (rt devices).", optional=True, session=False),
    _s("prebuffer_ms", "audio.prebuffer_ms", FLOAT, "PREBUFFER_MS",
       f"Audio queued before playback starts, {PREBUFFER.span}.", session=False),
    _s("output_block_ms", "audio.output_block_ms", FLOAT, "OUTPUT_BLOCK_MS",
       f"Speaker block, {OUTPUT_BLOCK.span}: raise it if playback stutters on a busy machine "
       "(barge-in drops what the device holds, whatever the block).", session=False),
    _s("echo", "audio.echo", STR, "ECHO",
       "Loudspeaker echo: aec (cancel the assistant's voice in the microphone), half-duplex "
       "(while it speaks, only speech clearly louder than its echo gets through) or off "
       "(headphones).", session=False),
    _s("keep_audio", "audio.keep_audio", BOOL, "KEEP_AUDIO",
       "Store the conversation's audio in the journal.", session=False),
    _s("idle_timeout_s", "timeouts.idle_s", FLOAT, "IDLE_TIMEOUT_S",
       "End the session after this long without activity (none: never).", optional=True),
    _s("total_timeout_s", "timeouts.total_s", FLOAT, "TOTAL_TIMEOUT_S",
       "End the session after this long in all (none: never).", optional=True),
    _s("response_timeout_s", "timeouts.response_s", FLOAT, "RESPONSE_TIMEOUT_S",
       "Give up on a reply that has not started after this long."),
    _s("connection_timeout_s", "timeouts.connection_s", FLOAT, "CONNECTION_TIMEOUT_S",
       "Give up on a connection attempt after this long."),
    _s("rollover_margin_s", "timeouts.rollover_margin_s", FLOAT, "ROLLOVER_MARGIN_S",
       "Open a fresh session this long before the server's expiry."),
    _s("max_reconnect_attempts", "reconnect.max_attempts", INT, "MAX_RECONNECT_ATTEMPTS",
       "Reconnect attempts after a dropped connection."),
    _s("replay_max_turns", "reconnect.replay_max_turns", INT, "REPLAY_MAX_TURNS",
       "Turns replayed into a new session (older ones are summarised)."),
    _s("azure_model", "azure.model", STR, "AZURE_MODEL",
       "Azure: the model behind --azure-deployment, such as gpt-realtime; the session is priced "
       "and journaled by it (none: cost n/a).", optional=True, session=False),
    _s("azure_transcription_deployment", "azure.transcription_deployment", STR,
       "AZURE_TRANSCRIPTION_DEPLOYMENT",
       "Azure: the deployment that transcribes your speech (none: no transcript on Azure).",
       optional=True, session=False),
)

BY_NAME = {s.name: s for s in SETTINGS}
BY_KEY = {s.key: s for s in SETTINGS}
ENV_VARS = (ENV_CONFIG, *(s.env for s in SETTINGS))
SECTIONS = ("turn_detection", "transcription", "audio", "timeouts", "reconnect", "azure")
EXTRA_TOP = ("prices", "tools")

KEEP_AUDIO_DEFAULT = True
AUDIO_FIELDS = tuple(f.name for f in dataclasses.fields(AudioOptions))
CLIENT_DEFAULTS: dict[str, Any] = {
    "keep_audio": KEEP_AUDIO_DEFAULT, "azure_model": None, "azure_transcription_deployment": None}
"""The settings that are neither SessionConfig's nor AudioOptions': Settings attributes."""


def defaults() -> dict[str, Any]:
    """Every setting's built-in default: SessionConfig's and AudioOptions' own, and the client's."""
    out: dict[str, Any] = dict(CLIENT_DEFAULTS)
    for cls in (AudioOptions, SessionConfig):
        for f in dataclasses.fields(cls):
            if f.name in BY_NAME:
                if f.default is not dataclasses.MISSING:
                    out[f.name] = f.default
                elif f.default_factory is not dataclasses.MISSING:
                    out[f.name] = f.default_factory()
    return out


# ------------------------------------------------------------------ Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The effective settings: SessionConfig values plus what only the client uses."""

    session: Mapping[str, Any]  # SessionConfig keyword arguments (types checked, ranges not)
    sources: Mapping[str, str]  # setting name -> "default" | "file" | "env RT_X" | "flag"
    audio: AudioOptions = field(default_factory=AudioOptions)  # checked when loaded
    keep_audio: bool = KEEP_AUDIO_DEFAULT
    azure_model: str | None = None  # what an Azure deployment runs, for the price and journal
    azure_transcription_deployment: str | None = None
    tool_decls: tuple[ToolDecl, ...] = ()
    prices: dict[str, dict[str, float]] | None = None  # overrides of the price table
    path: Path | None = None  # the config file that was read, if any
    warnings: tuple[str, ...] = field(default=())

    def session_config(self) -> SessionConfig:
        """A validated SessionConfig; ConfigError (one line naming the field) if a value is bad.
        The model and voice nobody chose are the provider's defaults."""
        session = dict(self.session)
        provider = session.get("provider", "openai")
        if provider == "gemini":
            defaults = {"model": DEFAULT_MODEL["gemini"], "voice": DEFAULT_VOICE["gemini"]}
            for name, value in defaults.items():
                if self.sources.get(name, "default") == "default":
                    session[name] = value
        try:
            return SessionConfig(**session, tools=self.tool_specs())
        except ConfigError as exc:
            raise ConfigError(f"{exc.message}{_origin_of(exc.message, self.sources, self.path)}"
                              ) from None

    def tool_specs(self) -> tuple[ToolSpec, ...]:
        return tuple(d.spec() for d in self.tool_decls)

    def price_table(self) -> dict[str, ModelPrice]:
        return price_table(self.prices)

    def value(self, name: str) -> Any:
        if name in self.session:
            return self.session[name]
        if name in AUDIO_FIELDS:
            return getattr(self.audio, name)
        return getattr(self, name)

    def as_tree(self) -> dict[str, Any]:
        """The settings nested as in the file (None values left out), for `rt config show`."""
        tree: dict[str, Any] = {}
        for s in SETTINGS:
            value = self.value(s.name)
            if value is None:
                continue
            *parents, leaf = s.key.split(".")
            node = tree
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = s.kind.to_toml(value)
        if self.prices:
            tree["prices"] = {m: dict(p) for m, p in self.prices.items()}
        if self.tool_decls:
            tree["tools"] = [d.to_table() for d in self.tool_decls]
        return tree


def load_settings(
    cli_overrides: Mapping[str, Any],
    env: Mapping[str, str] = os.environ,
    path: Path | None = None,
    *,
    missing_ok: bool = False,
) -> Settings:
    """Merge defaults, the config file, the environment and `cli_overrides` (highest).

    `cli_overrides` keys are setting names (SessionConfig fields such as `threshold`, or
    `input_device`, `prebuffer_ms`, `keep_audio`) or dotted file keys; None values mean "not
    given". `path` (else `RT_CONFIG`, else the default location) is the file; a missing file
    is fine at the default location, an error when named explicitly (unless `missing_ok`).
    """
    explicit = not missing_ok and (path is not None or bool(env.get(ENV_CONFIG, "").strip()))
    file_path = path if path is not None else config_path(env)
    data = read_config_file(file_path, required=explicit)
    values = defaults()
    sources = dict.fromkeys(values, "default")
    where = str(file_path)
    tools: tuple[ToolDecl, ...] = ()
    prices: dict[str, dict[str, float]] | None = None
    if data is not None:
        for s, raw in _file_values(data, where):
            values[s.name] = _convert(s, raw, s.kind.from_toml, f" in {where}")
            sources[s.name] = "file"
        tools = _tools(data.get("tools", []), where)
        prices = _prices(data.get("prices"), where)
    for s in SETTINGS:
        text = env.get(s.env)
        if text is not None:
            values[s.name] = _convert(s, text, s.kind.from_text, f" ({s.env})")
            sources[s.name] = f"env {s.env}"
    for key, raw in cli_overrides.items():
        if raw is None:
            continue
        flag = BY_NAME.get(key) or BY_KEY.get(key)
        if flag is None:
            raise ValueError(f"unknown setting {key!r}")
        values[flag.name] = _from_flag(flag, raw)
        sources[flag.name] = "flag"
    return _settings(values, sources, tools, prices, file_path if data is not None else None)


def _settings(values: dict[str, Any], sources: dict[str, str], tools: tuple[ToolDecl, ...],
              prices: dict[str, dict[str, float]] | None, path: Path | None) -> Settings:
    """`values` less the client-side settings is what SessionConfig takes."""
    client = {name: values.pop(name) for name in CLIENT_DEFAULTS}
    try:
        audio = AudioOptions(**{k: values.pop(k) for k in AUDIO_FIELDS})
    except ConfigError as exc:
        raise ConfigError(f"{exc.message}{_origin_of(exc.message, sources, path)}") from None
    return Settings(
        session=MappingProxyType(values),
        sources=MappingProxyType(sources),
        audio=audio,
        **client,
        tool_decls=tools,
        prices=prices,
        path=path,
    )


def _convert(s: Setting, raw: Any, parse: Callable[[Any], Any], origin: str) -> Any:
    """`raw` parsed for `s`; `origin` (" in FILE", " (RT_X)") completes error messages."""
    if s.optional and (raw is False or (isinstance(raw, str) and
                                        raw.strip().lower() in _NONE_WORDS)):
        return None
    try:
        return parse(raw)
    except _Invalid as exc:
        raise ConfigError(f"invalid {s.key}{origin}: {exc}") from None


def _origin_of(message: str, sources: Mapping[str, str], path: Path | None) -> str:
    """`(from RT_X)` / `(from flag)` / `(in FILE)` for the setting an error names."""
    for s in SETTINGS:
        config_names = (s.key, s.name, s.name.removesuffix("_s"))
        if any(message.startswith(f"invalid {n}:") for n in config_names):
            return _origin(sources.get(s.name, "default"), path)
    return ""


def _origin(source: str, path: Path | None) -> str:
    if source == "file" and path is not None:
        return f" (in {path})"
    if source.startswith("env "):
        return f" (from {source[4:]})"
    if source == "flag":
        return " (from the command line)"
    return ""


def _from_flag(s: Setting, raw: Any) -> Any:
    """Flags arrive typed by Typer; strings (and "" for optional ones) are parsed like env."""
    if isinstance(raw, str):
        return _convert(s, raw, s.kind.from_text, " (from the command line)")
    if s.kind is PHRASES:
        return tuple(raw)
    if s.kind is FLOAT and isinstance(raw, int) and not isinstance(raw, bool):
        return float(raw)
    if s.kind is DEVICE:
        return str(raw)
    return raw


# ------------------------------------------------------------------ the file


def read_config_file(path: Path, *, required: bool = False) -> dict[str, Any] | None:
    """The parsed file, None if absent (ConfigError if `required`); bad TOML is one line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file not found: {path}") from None
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _refuse_secret(key: str, where: str) -> None:
    if is_secret_name(key):
        raise ConfigError(
            f"{where}: {key!r} does not belong in the config file; API keys come from the "
            f"environment only (set {' or '.join(SECRET_ENV)})")


def _file_values(data: dict[str, Any], where: str) -> list[tuple[Setting, Any]]:
    """(setting, raw value) for every setting in the file; unknown keys are errors."""
    found: list[tuple[Setting, Any]] = []
    for key, value in data.items():
        _refuse_secret(key, where)
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: {key} must be a table ([{key}])")
            for sub, sub_value in value.items():
                _refuse_secret(sub, where)
                found.append((_known(f"{key}.{sub}", where), sub_value))
        elif key not in EXTRA_TOP:
            found.append((_known(key, where), value))
    return found


def _known(key: str, where: str) -> Setting:
    s = BY_KEY.get(key)
    if s is None:
        raise ConfigError(f"{where}: unknown key {key!r} (rt config init writes an example "
                          f"with every key)")
    return s


def _tools(value: Any, where: str) -> tuple[ToolDecl, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: tools must be an array of tables ([[tools]])")
    for i, table in enumerate(value, 1):
        if isinstance(table, dict):
            for key in table:
                _refuse_secret(key, f"{where}: tools[{i}]")
    decls = tuple(ToolDecl.from_table(t, f"{where}: tools[{i}]") for i, t in enumerate(value, 1))
    check_unique(decls, f"{where}: tools")
    return decls


def _prices(value: Any, where: str) -> dict[str, dict[str, float]] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigError(f'{where}: prices must hold one table per model ([prices."MODEL"])')
    prices: dict[str, dict[str, float]] = {}
    for model, table in value.items():
        for name, usd in table.items():
            if isinstance(usd, bool) or not isinstance(usd, int | float) or usd < 0:
                raise ConfigError(f"invalid {where}: prices.{model}.{name}: "
                                  "expected USD per 1M tokens (a number >= 0)")
        prices[model] = {k: float(v) for k, v in table.items()}
    try:
        price_table(prices)  # unknown fields, incomplete new models
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None
    return prices
