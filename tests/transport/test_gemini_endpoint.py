"""The Gemini Live endpoint: the Live API's URL, the key in a header and never in a URL."""

from __future__ import annotations

import pytest

from realtime_cli.errors import ConfigError
from realtime_cli.transport.gemini_endpoint import (
    GEMINI_URL,
    KEY_HEADER,
    gemini_key,
    resolve_gemini_endpoint,
)

KEY = "AIzaSyTEST-key-0123456789"


def test_the_live_api_with_the_key_in_the_header() -> None:
    endpoint = resolve_gemini_endpoint(env={"GEMINI_API_KEY": KEY})
    assert endpoint.url == GEMINI_URL == ("wss://generativelanguage.googleapis.com/ws/"
                                          "google.ai.generativelanguage.v1beta.GenerativeService."
                                          "BidiGenerateContent")
    assert endpoint.kind == "gemini"
    assert endpoint.headers == {KEY_HEADER: KEY}
    assert KEY not in repr(endpoint) and KEY not in endpoint.display_url


def test_google_api_key_comes_first_as_in_the_sdk() -> None:
    assert gemini_key({"GEMINI_API_KEY": "g", "GOOGLE_API_KEY": "o"}) == "o"
    assert gemini_key({"GEMINI_API_KEY": " g "}) == "g"
    assert gemini_key({}) == ""


def test_no_key_is_one_line_naming_the_variables() -> None:
    with pytest.raises(ConfigError, match="GEMINI_API_KEY .or GOOGLE_API_KEY. is not set"):
        resolve_gemini_endpoint(env={})


def test_the_offline_twin_gets_the_live_path_and_needs_no_key() -> None:
    endpoint = resolve_gemini_endpoint(url="ws://127.0.0.1:8765", env={})
    assert endpoint.url == "ws://127.0.0.1:8765/ws/google.ai.generativelanguage.v1beta." \
                           "GenerativeService.BidiGenerateContent"
    assert endpoint.kind == "custom" and endpoint.headers == {}


def test_a_key_in_the_url_moves_into_the_header() -> None:
    endpoint = resolve_gemini_endpoint(url=f"ws://localhost:9/x?key={KEY}&alt=1", env={})
    assert endpoint.url == "ws://localhost:9/x?alt=1"
    assert endpoint.headers == {KEY_HEADER: KEY}


def test_a_key_never_goes_over_plain_ws_to_another_host() -> None:
    with pytest.raises(ConfigError, match="unencrypted ws://"):
        resolve_gemini_endpoint(url="ws://example.com", env={"GEMINI_API_KEY": KEY})
    endpoint = resolve_gemini_endpoint(url="ws://example.com", env={"GEMINI_API_KEY": KEY},
                                       allow_insecure=True)
    assert endpoint.headers == {KEY_HEADER: KEY}


def test_an_http_url_becomes_websocket_and_nonsense_is_refused() -> None:
    assert resolve_gemini_endpoint(url="https://proxy.example/live", env={"GEMINI_API_KEY": KEY}
                                   ).url == "wss://proxy.example/live"
    with pytest.raises(ConfigError, match="--url"):
        resolve_gemini_endpoint(url="ftp://x", env={})
