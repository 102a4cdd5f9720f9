"""The Gemini Live endpoint: the Live API's URL; the key in the `x-goog-api-key` header and the
`key` query parameter of the URL the connect step uses, and in no URL rt shows."""

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


def test_the_live_api_with_the_key_in_the_header_and_the_connect_url() -> None:
    endpoint = resolve_gemini_endpoint(env={"GEMINI_API_KEY": KEY})
    assert endpoint.url == GEMINI_URL == ("wss://generativelanguage.googleapis.com/ws/"
                                          "google.ai.generativelanguage.v1beta.GenerativeService."
                                          "BidiGenerateContent")
    assert endpoint.kind == "gemini"
    assert endpoint.headers == {KEY_HEADER: KEY}
    secret = endpoint.connect_url()
    assert secret.reveal() == f"{GEMINI_URL}?key={KEY}"
    shown = [repr(endpoint), str(endpoint), endpoint.url, endpoint.display_url, repr(secret),
             str(secret), f"{secret}", f"{secret!r}", repr([secret]), repr({"url": secret})]
    assert not [text for text in shown if KEY in text], shown
    assert str(secret) == GEMINI_URL + "?key=[redacted]"


def test_the_key_is_escaped_in_the_query_and_other_parameters_are_kept() -> None:
    endpoint = resolve_gemini_endpoint(url="wss://proxy.example/live?alt=1",
                                       env={"GEMINI_API_KEY": "a+b/c=d&e"})
    assert endpoint.connect_url().reveal() == "wss://proxy.example/live?alt=1&key=a%2Bb%2Fc%3Dd%26e"
    assert endpoint.url == "wss://proxy.example/live?alt=1"


def test_without_a_key_the_connect_url_is_the_url() -> None:
    endpoint = resolve_gemini_endpoint(url="ws://127.0.0.1:8765", env={})
    assert endpoint.connect_url().reveal() == endpoint.url


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


def test_a_key_in_the_url_moves_out_of_the_url_rt_shows() -> None:
    endpoint = resolve_gemini_endpoint(url=f"ws://localhost:9/x?key={KEY}&alt=1", env={})
    assert endpoint.url == "ws://localhost:9/x?alt=1"
    assert endpoint.headers == {KEY_HEADER: KEY}
    assert endpoint.connect_url().reveal() == f"ws://localhost:9/x?alt=1&key={KEY}"
    assert KEY not in repr(endpoint) + endpoint.display_url + str(endpoint.connect_url())


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
