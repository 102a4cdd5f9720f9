"""Where a Gemini Live session connects and with which key (docs/protocol.md#gemini-live).

Pure: the environment is passed in. The key goes on the wire twice: in the `x-goog-api-key`
header, as the google-genai SDK sends it, and as the `key` query parameter, as the Live API
reference shows raw WebSocket clients passing it; a server imitating the service may read only
one of them. It is never in `Endpoint.url`, the URL rt shows, traces and journals: only the
connect step's `Endpoint.connect_url()` (a `SecretUrl`, redacted in any `repr` or `str`) holds
it. A `key=` a user put in `--url` is taken out of the shown URL for the same reason. The key
is read as the SDK reads it: `GOOGLE_API_KEY`, else `GEMINI_API_KEY`.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlunsplit

from realtime_cli.errors import ConfigError
from realtime_cli.transport.endpoint import Endpoint, _ws_parts, is_loopback

LIVE_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
GEMINI_URL = "wss://generativelanguage.googleapis.com" + LIVE_PATH
KEY_HEADER = "x-goog-api-key"
KEY_PARAM = "key"
KEY_VARIABLES = ("GOOGLE_API_KEY", "GEMINI_API_KEY")


def gemini_key(env: Mapping[str, str]) -> str:
    """The API key from the environment, empty when none is set."""
    for name in KEY_VARIABLES:
        if key := env.get(name, "").strip():
            return key
    return ""


def resolve_gemini_endpoint(*, url: str | None = None, env: Mapping[str, str],
                            allow_insecure: bool = False) -> Endpoint:
    """The Live API endpoint, or `url` (such as `rt serve --protocol gemini`): a URL without a
    path gets the Live API's. A key is required except on this machine, and never goes over
    plain `ws://` to another host unless the user says the network is trusted."""
    parts = _ws_parts(url or GEMINI_URL, "--url")
    if parts.path in ("", "/"):
        parts = parts._replace(path=LIVE_PATH)
    query = parse_qsl(parts.query, keep_blank_values=True)
    in_url = next((value for name, value in query if name == KEY_PARAM), "")
    parts = parts._replace(query=urlencode([(n, v) for n, v in query if n != KEY_PARAM]))
    key = gemini_key(env) or in_url.strip()
    if not key and not is_loopback(parts.hostname):
        raise ConfigError("GEMINI_API_KEY (or GOOGLE_API_KEY) is not set (or try offline: "
                          "rt serve --protocol gemini, then rt talk --provider gemini "
                          "--url ws://127.0.0.1:PORT)")
    if key and parts.scheme == "ws" and not is_loopback(parts.hostname) and not allow_insecure:
        raise ConfigError(f"refusing to send the API key over unencrypted ws:// to "
                          f"{parts.hostname}: use wss://, or --allow-insecure on a network you "
                          "trust")
    return Endpoint(url=urlunsplit(parts), kind="custom" if url else "gemini",
                    headers={KEY_HEADER: key} if key else {},
                    url_secrets=((KEY_PARAM, key),) if key else (),
                    key_name=f"API key ({' or '.join(KEY_VARIABLES)})")
