"""Where to connect and with which credentials: OpenAI, a base URL, Azure, or any ws(s) URL.

Pure: the environment is passed in. The key lives only in `Endpoint.headers`, which never
appears in `repr`, logs, records or error messages (docs/protocol.md#connection-and-close-codes).
A key is never sent over plain `ws://` to a host other than this machine unless the user says the
network is trusted (`allow_insecure`): anyone on the path could read it.

Headers follow the `openai` SDK: `Authorization: Bearer` (or Azure's `api-key`), and
`OpenAI-Organization` / `OpenAI-Project` from `OPENAI_ORG_ID` / `OPENAI_PROJECT_ID` when set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from realtime_cli.errors import ConfigError

OPENAI_URL = "wss://api.openai.com/v1/realtime"
CREDENTIAL_HEADERS = ("Authorization", "api-key")
ACCOUNT_HEADERS = {"OPENAI_ORG_ID": "OpenAI-Organization", "OPENAI_PROJECT_ID": "OpenAI-Project"}
"""Environment variable -> header, as the `openai` SDK's client sends them."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    kind: str  # openai | base_url | azure | custom
    headers: dict[str, str] = field(repr=False, default_factory=dict)
    deployment: str | None = None  # Azure: the deployment the URL names

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


def resolve_endpoint(
    *,
    model: str,
    url: str | None = None,
    azure_endpoint: str | None = None,
    azure_deployment: str | None = None,
    env: Mapping[str, str],
    allow_insecure: bool = False,
) -> Endpoint:
    """Pick the endpoint by precedence: --url, --azure-*, OPENAI_BASE_URL, then OpenAI."""
    if url:
        parts = _with_param(_ws_parts(url, "--url"), "model", model)
        endpoint = Endpoint(url=urlunsplit(parts), kind="custom",
                            headers=_openai_headers(parts, env, required=False))
    elif azure_endpoint or azure_deployment:
        endpoint = _azure(azure_endpoint, azure_deployment, env)
    elif base_url := env.get("OPENAI_BASE_URL", "").strip():
        parts = _ws_parts(base_url, "OPENAI_BASE_URL")
        parts = _with_param(parts._replace(path=parts.path.rstrip("/") + "/realtime"), "model", model)
        endpoint = Endpoint(url=urlunsplit(parts), kind="base_url",
                            headers=_openai_headers(parts, env, required=True))
    else:
        parts = _with_param(urlsplit(OPENAI_URL), "model", model)
        endpoint = Endpoint(url=urlunsplit(parts), kind="openai",
                            headers=_openai_headers(parts, env, required=True))
    if not allow_insecure:
        _refuse_plain_key(endpoint)
    return endpoint


def _azure(given: str | None, deployment: str | None, env: Mapping[str, str]) -> Endpoint:
    """The resource URL (`https://RES.openai.azure.com`, with or without `/openai` or
    `/openai/v1`) gives the v1 API, `.../openai/v1/realtime?model=DEPLOYMENT`; a URL already ending
    in `/realtime` is kept as given, such as the versioned
    `.../openai/realtime?api-version=...&deployment=...`, which names the deployment itself."""
    if not given:
        raise ConfigError("Azure needs --azure-endpoint")
    parts = _ws_parts(given, "--azure-endpoint")
    path = parts.path.rstrip("/")
    if not path.endswith("/realtime"):
        if path.endswith("/openai"):
            path += "/v1"
        elif not path.endswith("/openai/v1"):
            path += "/openai/v1"
        path += "/realtime"
    parts = parts._replace(path=path)
    versioned = not path.endswith("/v1/realtime")
    name = "deployment" if versioned else "model"
    named = _param(parts, name)
    if named and deployment and named != deployment:
        raise ConfigError(f"--azure-deployment {deployment} differs from the deployment {named} "
                          f"in --azure-endpoint")
    deployment = deployment or named
    if not deployment:
        raise ConfigError("Azure needs --azure-deployment (or the deployment in the "
                          "--azure-endpoint URL)")
    if versioned and _param(parts, "api-version") is None:
        raise ConfigError("an Azure /openai/realtime URL needs api-version= in its query "
                          "(or give the resource URL alone, for the v1 API)")
    parts = _with_param(parts, name, deployment)
    key = env.get("AZURE_OPENAI_API_KEY", "").strip()
    if not key and not is_loopback(parts.hostname):
        raise ConfigError("AZURE_OPENAI_API_KEY is not set")
    headers = {"api-key": key} if key else {}
    return Endpoint(url=urlunsplit(parts), kind="azure", headers=headers | _account_headers(env),
                    deployment=deployment)


def _ws_parts(url: str, source: str) -> SplitResult:
    parts = urlsplit(url.strip())
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ConfigError(f"{source} must be an http(s) or ws(s) URL, got {url!r}")
    return parts._replace(scheme=scheme)


def _param(parts: SplitResult, name: str) -> str | None:
    """The value of query parameter `name` (parsed, so `?foo=model=x` has no `model`)."""
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == name:
            return value
    return None


def _with_param(parts: SplitResult, name: str, value: str) -> SplitResult:
    """`parts` with `name=value` appended to its query, unless the query already names it."""
    if _param(parts, name) is not None:
        return parts
    query = "&".join(q for q in (parts.query, urlencode({name: value})) if q)
    return parts._replace(query=query)


def _openai_headers(parts: SplitResult, env: Mapping[str, str], *, required: bool
                    ) -> dict[str, str]:
    key = env.get("OPENAI_API_KEY", "").strip()
    if not key and required and not is_loopback(parts.hostname):
        raise ConfigError(
            "OPENAI_API_KEY is not set (or try offline: rt serve, then rt talk --url ws://127.0.0.1:PORT/v1/realtime)"
        )
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return headers | _account_headers(env)


def _account_headers(env: Mapping[str, str]) -> dict[str, str]:
    return {header: value for name, header in ACCOUNT_HEADERS.items()
            if (value := env.get(name, "").strip())}


def _refuse_plain_key(endpoint: Endpoint) -> None:
    parts = urlsplit(endpoint.url)
    if parts.scheme != "ws" or is_loopback(parts.hostname):
        return
    if any(h in endpoint.headers for h in CREDENTIAL_HEADERS):
        raise ConfigError(f"refusing to send the API key over unencrypted ws:// to {endpoint.host}: "
                          "use wss://, or --allow-insecure on a network you trust")
