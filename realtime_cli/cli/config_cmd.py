"""`rt config path | show | init`: where the config file is, what is in effect, an example.

Secrets never appear: `show` reports API keys from the environment masked (`sk-...abcd`) or as
`<not set>`, and the file itself cannot hold them (`realtime_cli.settings` refuses such keys).
Imports of the settings machinery stay inside the commands so `rt --help` starts fast.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from realtime_cli.settings import Settings

config_app = typer.Typer(
    name="config",
    help=(
        "The config file: where it is, what is in effect, a commented example."
        "\n\n[bold]Examples[/]\n\n  rt config init\n\n  rt config show"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

MASK_KEEP = 4
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")

EXAMPLES: dict[str, Any] = {
    "max_output_tokens": 1024,
    "idle_timeout_ms": 10000,
    "transcription_language": "en",
    "noise_reduction": "near_field",
    "input_device": "USB",
    "output_device": 3,
    "total_timeout_s": 1800.0,
    "azure_model": "gpt-realtime",
    "azure_transcription_deployment": "gpt-4o-mini-transcribe",
}
"""Values shown in the example file for settings whose default is none."""

HEADER = """\
# rt configuration (TOML).
#
# Precedence: command-line flags > environment variables (RT_*) > this file > defaults.
# Every key is optional: the commented-out values below are the built-in defaults (or, where
# the default is "none", an example). Uncomment and edit what you want to change.
# `rt config show` prints the settings in effect and where each one came from.
#
# API keys never go in this file: set OPENAI_API_KEY (or AZURE_OPENAI_API_KEY) in the
# environment. rt refuses a config file that contains one.
"""

FOOTER = """
# Prices in USD per 1M tokens, correcting or extending the built-in table that the cost
# estimate uses. A model rt does not know needs all six token fields; a transcription model
# billed by duration also gives audio_minute (USD per minute of audio). On Azure the session
# is priced by azure.model, or else named "azure:DEPLOYMENT", which a table here can price.
#[prices."gpt-realtime"]
#text_in = 4.0
#cached_text_in = 0.4
#audio_in = 32.0
#cached_audio_in = 0.4
#text_out = 16.0
#audio_out = 64.0

# Function tools the model may call. The command (an argv list, or a string split like a
# shell would, but never run through one) gets the arguments JSON on stdin; its stdout is the
# result. A failure or a timeout is reported to the model as {"error": "..."}.
#[[tools]]
#name = "local_time"
#description = "The current local date and time."
#parameters = { type = "object", properties = { timezone = { type = "string" } } }
#command = ["python3", "-c", "import datetime; print(datetime.datetime.now().isoformat())"]
#timeout_s = 10
"""


# ------------------------------------------------------------------ commands


@config_app.command("path")
def path_cmd() -> None:
    """Print the config file path ([bold]RT_CONFIG[/] overrides it).

    [bold]Examples[/]

      rt config path

      RT_CONFIG=./rt.toml rt config path
    """
    from realtime_cli.settings import config_path

    typer.echo(str(config_path(os.environ)))


@config_app.command("show")
def show_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False,
) -> None:
    """Print the settings in effect (file + environment + defaults), secrets masked.

    [bold]Examples[/]

      rt config show

      rt config show --json
    """
    from realtime_cli.errors import ConfigError
    from realtime_cli.settings import config_path, load_settings

    settings = load_settings({}, os.environ, missing_ok=True)
    path = config_path(os.environ)
    secrets = secret_status(os.environ)
    if as_json:
        typer.echo(json.dumps({
            "config_file": str(path),
            "config_file_found": settings.path is not None,
            "settings": settings_tree(settings),
            "sources": key_sources(settings),
            "secrets": secrets,
        }, indent=2))
    else:
        typer.echo(show_toml(settings, path, secrets), nl=False)
    try:
        settings.session_config()
    except ConfigError as exc:
        typer.secho(f"rt: {exc.message}", err=True, fg="red")
        raise typer.Exit(exc.exit_code) from None


@config_app.command("init")
def init_cmd(
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example config file (every key, at its default).

    [bold]Examples[/]

      rt config init

      rt config init --force
    """
    from realtime_cli.errors import ConfigError
    from realtime_cli.settings import config_path

    path = config_path(os.environ)
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists (use --force to overwrite it)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(example_config(), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    typer.echo(f"wrote {path}")


# ------------------------------------------------------------------ helpers (pure)


def mask_secret(value: str | None) -> str:
    """`sk-...abcd` for a key long enough to keep 7 characters of it safely, else `<set>`."""
    if not value:
        return "<not set>"
    if len(value) < 20:
        return "<set>"
    return f"{value[:3]}...{value[-MASK_KEEP:]}"


def secret_status(env: Mapping[str, str]) -> dict[str, str]:
    from realtime_cli.settings import SECRET_ENV

    return {name: mask_secret(env.get(name, "").strip()) for name in SECRET_ENV}


def settings_tree(settings: Settings) -> dict[str, Any]:
    """`Settings.as_tree()` plus `"none"` where a setting was cleared from a non-none default,
    so the printed settings, read back as a file, give the same settings."""
    from realtime_cli.settings import SETTINGS, defaults

    tree: dict[str, Any] = settings.as_tree()
    base = defaults()
    for s in SETTINGS:
        if settings.value(s.name) is None and base[s.name] is not None:
            *parents, leaf = s.key.split(".")
            node = tree
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = "none"
    return tree


def key_sources(settings: Settings) -> dict[str, str]:
    from realtime_cli.settings import SETTINGS

    return {s.key: settings.sources.get(s.name, "default") for s in SETTINGS}


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def toml_value(value: Any) -> str:
    """One TOML value on one line (inline tables for nested JSON Schema)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are valid TOML escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def dump_toml(tree: Mapping[str, Any], notes: Mapping[str, str] | None = None) -> str:
    """`tree` as TOML: plain keys, then one table per section, then `[[tools]]`.

    `notes` maps dotted keys to a trailing comment (where the value came from).
    """
    notes = notes or {}
    lines: list[str] = []

    def emit(table: Mapping[str, Any], prefix: str) -> None:
        for key, value in table.items():
            if isinstance(value, Mapping) and key != "parameters":
                continue
            if isinstance(value, list) and value and isinstance(value[0], Mapping):
                continue
            note = notes.get(f"{prefix}{key}")
            lines.append(f"{toml_key(key)} = {toml_value(value)}" + (f"  # {note}" if note
                                                                     else ""))

    emit(tree, "")
    for key, value in tree.items():
        if key == "prices" and isinstance(value, Mapping):
            for model, table in value.items():
                lines += ["", f"[prices.{toml_key(model)}]"]
                emit(table, f"prices.{model}.")
        elif isinstance(value, Mapping):
            lines += ["", f"[{toml_key(key)}]"]
            emit(value, f"{key}.")
    for tool in tree.get("tools", []):
        lines += ["", "[[tools]]"]
        emit(tool, "tools.")
    return "\n".join(lines).lstrip("\n") + "\n"


def show_toml(settings: Settings, path: Path, secrets: Mapping[str, str]) -> str:
    found = "" if settings.path is not None else " (not found: defaults apply)"
    head = [
        "# Settings in effect: flags > environment > config file > defaults.",
        f"# config file: {path}{found}",
        *(f"# {name}: {shown}" for name, shown in secrets.items()),
        "",
    ]
    return "\n".join(head) + "\n" + dump_toml(settings_tree(settings), key_sources(settings))


def example_config() -> str:
    """The file `rt config init` writes: every setting commented out at its default."""
    from realtime_cli.settings import SETTINGS, defaults

    base = defaults()
    lines = [HEADER]
    section = ""
    for s in SETTINGS:
        parent, _, leaf = s.key.rpartition(".")
        if parent != section:
            section = parent
            lines += ["", f"[{parent}]"]
        default = base[s.name]
        shown = EXAMPLES.get(s.name, "none") if default is None else s.kind.to_toml(default)
        default_note = " Default: none." if default is None else ""
        lines += ["", f"# {s.help}{default_note} ({s.env})", f"#{leaf} = {toml_value(shown)}"]
    return "\n".join(lines) + "\n" + FOOTER
