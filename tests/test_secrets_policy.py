"""One secret policy for the config file (refuses) and the journal (drops and redacts): every
name either former rule caught is still caught by both callers, and real settings pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from realtime_cli.errors import ConfigError
from realtime_cli.secrets_policy import is_secret_name, redact_key_like, scrub_secrets
from realtime_cli.settings import BY_KEY, load_settings
from realtime_cli.storage.sqlite import config_json

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz"

# The config file refused these names before the policy was shared...
_REFUSED_BY_SETTINGS = ["api_key", "OPENAI_API_KEY", "api-key", "apikey", "key", "token",
                        "secret", "password", "github_token", "client_secret", "db_password"]
# ...and the journal dropped these from a stored config.
_DROPPED_BY_JOURNAL = ["api_key", "apikey", "authorization", "Authorization", "auth", "token",
                       "access_token", "refresh_token", "id_token", "bearer", "headers",
                       "extra_headers", "additional_headers", "password", "secret",
                       "client_secret", "cookie", "cookies", "ephemeral_key", "x_api_key",
                       "db_password", "app_secret", "session_token"]
_ALL = sorted(set(_REFUSED_BY_SETTINGS) | set(_DROPPED_BY_JOURNAL))
_NOT_SECRET = ["model", "max_output_tokens", "keep_audio", "prefix_padding_ms", "monkey",
               "keyboard", "tokens", "note", "url"]


@pytest.mark.parametrize("name", _ALL)
def test_every_secret_name_is_caught(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", _NOT_SECRET)
def test_ordinary_names_are_not(name: str) -> None:
    assert not is_secret_name(name)


def test_no_setting_is_named_like_a_secret() -> None:
    for key in BY_KEY:
        assert not any(is_secret_name(part) for part in key.split(".")), key


@pytest.mark.parametrize("name", _ALL)
def test_the_config_file_refuses_each(tmp_path: Path, name: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'"{name}" = "{KEY}"\n[audio]\n"{name}" = "{KEY}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="environment only") as info:
        load_settings({}, env={}, path=cfg)
    assert KEY not in str(info.value)


@pytest.mark.parametrize("name", _ALL)
def test_the_journal_drops_each(name: str) -> None:
    stored = json.loads(config_json({"model": "m", name: KEY, "nested": [{name: "x", "ok": 1}]}))
    assert stored == {"model": "m", "nested": [{"ok": 1}]}


def test_key_like_text_is_redacted_wherever_it_sits() -> None:
    assert redact_key_like(f"use {KEY} or Bearer abc.def and ek_1234567890ab") == (
        "use [redacted] or [redacted] and [redacted]")
    assert scrub_secrets({"note": [f"x {KEY}"], "n": 3}) == {"note": ["x [redacted]"], "n": 3}


def test_google_keys_are_redacted_too() -> None:
    google = "AIza" + "Sy" + "B" * 33
    assert redact_key_like(f"key {google} and AQ.Ab8RN6Lx0123456789abcdef") == (
        "key [redacted] and [redacted]")
    assert redact_key_like("wss://host/ws/x?alt=json&key=abc123DEF&y=1") == (
        "wss://host/ws/x?alt=json&key=[redacted]&y=1")
