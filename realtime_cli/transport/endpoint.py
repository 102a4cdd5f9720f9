"""Where to connect and with which credentials: OpenAI, a base URL, Azure, or any ws(s) URL.

Pure: the environment is passed in. The key lives only in `Endpoint.headers` and, for a
provider that also takes it in the query (Gemini's `key`), `Endpoint.url_secrets`; neither
appears in `repr`, and `Endpoint.url`, the URL rt shows, traces and journals, never holds it.
Only the connect step asks for `connect_url()`, a `SecretUrl` whose `repr` and `str` hide the
secret values (docs/protocol.md#connection-and-close-codes).
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
from realtime_cli.secrets_policy import REDACTED

OPENAI_URL = "wss://api.openai.com/v1/realtime"
CREDENTIAL_HEADERS = ("Authorization", "api-key")
ACCOUNT_HEADERS = {"OPENAI_ORG_ID": "OpenAI-Organization", "OPENAI_PROJECT_ID": "OpenAI-Project"}
"""Environment variable -> header, as the `openai` SDK's client sends them."""


class SecretUrl:
    """A URL that carries a credential in its query, for the connect step alone: `reveal()` is
    the only way to the whole text; `repr`, `str` and formatting show it with the secret
    values redacted, so a log line, a trace or an error message that names it by mistake
    still holds no key."""

    __slots__ = ("_url", "_shown")

    def __init__(self, url: str, secrets: tuple[tuple[str, str], ...] = ()) -> None:
        if not secrets:  # nothing to add: the URL as it is
            self._url = self._shown = url
            return
        parts = urlsplit(url)

        def with_query(extra: str) -> str:
            query = "&".join(q for q in (parts.query, extra) if q)
            return urlunsplit(parts._replace(query=query))

        self._url = with_query(urlencode(secrets))
        self._shown = with_query("&".join(f"{urlencode({name: ''})}{REDACTED}"
                                          for name, _ in secrets))

    def reveal(self) -> str:
        return self._url

    def __str__(self) -> str:
        return self._shown

    def __repr__(self) -> str:
        return f"SecretUrl({self._shown!r})"

    def __reduce__(self) -> tuple[object, ...]:  # no copy or pickle carries the key away
        raise TypeError("a SecretUrl cannot be pickled")


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str  # shown, traced and journaled: never holds a key
    kind: str  # openai | base_url | azure | custom | gemini
    headers: dict[str, str] = field(repr=False, default_factory=dict)
    deployment: str | None = None  # Azure: the deployment the URL names
    # Query parameters that carry a credential (Gemini's `key`): added to the connect URL only.
    url_secrets: tuple[tuple[str, str], ...] = field(repr=False, default=())
    # The key as the user knows it, for the line that says it was refused.
    key_name: str = "API key (OPENAI_API_KEY)"

    def connect_url(self) -> SecretUrl:
        """The URL to open: `url` with the secret query parameters, if any."""
        return SecretUrl(self.url, self.url_secrets)

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
                    deployment=deployment, key_name="Azure key (AZURE_OPENAI_API_KEY)")


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
