"""Where to connect and with which credentials: OpenAI, a base URL, Azure, or any ws(s) URL.

Pure: the environment is passed in. The key lives only in `Endpoint.headers`, which never
appears in `repr`, logs, records or error messages (docs/protocol.md#connection-and-close-codes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

from realtime_cli.errors import ConfigError

OPENAI_URL = "wss://api.openai.com/v1/realtime"


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    kind: str  # openai | base_url | azure | custom
    headers: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "?"

    @property
    def display_url(self) -> str:
        """The URL without query secrets (none are put there, but user URLs might hold some)."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _with_model(url: str, model: str) -> str:
    parts = urlsplit(url)
    if "model=" in parts.query:
        return url
    query = "&".join(q for q in (parts.query, urlencode({"model": model})) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _ws_scheme(url: str, source: str) -> str:
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ConfigError(f"{source} must be an http(s) or ws(s) URL, got {url!r}")
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


def resolve_endpoint(
    *,
    model: str,
    url: str | None = None,
    azure_endpoint: str | None = None,
    azure_deployment: str | None = None,
    env: Mapping[str, str],
) -> Endpoint:
    """Pick the endpoint by precedence: --url, --azure-*, OPENAI_BASE_URL, then OpenAI."""
    if url:
        full = _with_model(_ws_scheme(url, "--url"), model)
        return Endpoint(url=full, kind="custom", headers=_openai_headers(full, env, required=False))
    if azure_endpoint or azure_deployment:
        if not (azure_endpoint and azure_deployment):
            raise ConfigError("Azure needs both --azure-endpoint and --azure-deployment")
        base = _ws_scheme(azure_endpoint, "--azure-endpoint").rstrip("/")
        if not base.endswith("/openai/v1"):
            base += "/openai/v1"
        full = _with_model(base + "/realtime", azure_deployment)
        key = env.get("AZURE_OPENAI_API_KEY", "").strip()
        if not key and not is_loopback(urlsplit(full).hostname):
            raise ConfigError("AZURE_OPENAI_API_KEY is not set")
        return Endpoint(url=full, kind="azure", headers={"api-key": key} if key else {})
    base_url = env.get("OPENAI_BASE_URL", "").strip()
    if base_url:
        full = _with_model(_ws_scheme(base_url, "OPENAI_BASE_URL").rstrip("/") + "/realtime", model)
        return Endpoint(url=full, kind="base_url", headers=_openai_headers(full, env, required=True))
    full = _with_model(OPENAI_URL, model)
    return Endpoint(url=full, kind="openai", headers=_openai_headers(full, env, required=True))


def _openai_headers(url: str, env: Mapping[str, str], *, required: bool) -> dict[str, str]:
    key = env.get("OPENAI_API_KEY", "").strip()
    if key:
        return {"Authorization": f"Bearer {key}"}
    if required and not is_loopback(urlsplit(url).hostname):
        raise ConfigError(
            "OPENAI_API_KEY is not set (or try offline: rt serve, then rt talk --url ws://127.0.0.1:PORT/v1/realtime)"
        )
    return {}
