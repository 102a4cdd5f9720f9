"""Where rt connects and what it sends with the upgrade: the OpenAI URL, a base URL, Azure in each
form a user copies from a portal, any ws(s) URL; the key only over TLS unless the host is this
machine or the user says the network is trusted; the organization and project headers as the
`openai` SDK sends them."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from realtime_cli.errors import ConfigError
from realtime_cli.transport.endpoint import Endpoint, resolve_endpoint

KEY = "sk-test-0123456789abcdefghij"


def query(endpoint: Endpoint) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(endpoint.url).query, keep_blank_values=True)


def test_openai_by_default_with_the_model_in_the_query() -> None:
    e = resolve_endpoint(model="gpt-realtime", env={"OPENAI_API_KEY": KEY})
    assert (e.url, e.kind) == ("wss://api.openai.com/v1/realtime?model=gpt-realtime", "openai")
    assert e.headers == {"Authorization": f"Bearer {KEY}"}
    assert KEY not in repr(e)


def test_openai_needs_a_key() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set"):
        resolve_endpoint(model="gpt-realtime", env={})


@pytest.mark.parametrize(("base", "url"), [
    ("https://proxy.example/v1", "wss://proxy.example/v1/realtime?model=m"),
    ("https://proxy.example/v1/", "wss://proxy.example/v1/realtime?model=m"),
    ("http://127.0.0.1:8000/v1", "ws://127.0.0.1:8000/v1/realtime?model=m"),
    # The query stays after the path, as the SDK keeps it (path + /realtime, then ?query).
    ("https://proxy.example/v1?tenant=a&x=1", "wss://proxy.example/v1/realtime?tenant=a&x=1&model=m"),
    ("https://proxy.example/v1/?model=other", "wss://proxy.example/v1/realtime?model=other"),
])
def test_a_base_url_gets_realtime_after_its_path_and_keeps_its_query(base: str, url: str) -> None:
    e = resolve_endpoint(model="m", env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": base})
    assert (e.url, e.kind) == (url, "base_url")


@pytest.mark.parametrize(("given", "url"), [
    ("ws://127.0.0.1:9/v1/realtime", "ws://127.0.0.1:9/v1/realtime?model=m"),
    ("http://localhost:9/v1/realtime", "ws://localhost:9/v1/realtime?model=m"),
    ("wss://h.example/rt?model=theirs", "wss://h.example/rt?model=theirs"),
    # A query that merely contains "model=" inside another parameter still gets the model.
    ("wss://h.example/rt?foo=model=x", "wss://h.example/rt?foo=model=x&model=m"),
    ("wss://h.example/rt?supermodel=x", "wss://h.example/rt?supermodel=x&model=m"),
])
def test_a_url_gets_the_model_unless_its_query_names_one(given: str, url: str) -> None:
    assert resolve_endpoint(model="m", url=given, env={}).url == url


@pytest.mark.parametrize("given", [
    "https://res.openai.azure.com",
    "https://res.openai.azure.com/",
    "https://res.openai.azure.com/openai",
    "https://res.openai.azure.com/openai/",
    "https://res.openai.azure.com/openai/v1",
    "https://res.openai.azure.com/openai/v1/realtime",
    "wss://res.openai.azure.com/openai/v1/realtime?model=dep",
])
def test_azure_resource_url_in_any_form_gives_the_v1_realtime_url(given: str) -> None:
    e = resolve_endpoint(model="gpt-realtime", azure_endpoint=given, azure_deployment="dep",
                         env={"AZURE_OPENAI_API_KEY": "az-key"})
    assert (e.url, e.kind, e.deployment) == (
        "wss://res.openai.azure.com/openai/v1/realtime?model=dep", "azure", "dep")
    assert e.headers == {"api-key": "az-key"}


def test_azure_full_versioned_url_is_kept_and_names_the_deployment() -> None:
    given = ("https://res.openai.azure.com/openai/realtime?api-version=2025-08-28"
             "&deployment=my-rt")
    e = resolve_endpoint(model="gpt-realtime", azure_endpoint=given,
                         env={"AZURE_OPENAI_API_KEY": "az-key"})
    assert e.url == ("wss://res.openai.azure.com/openai/realtime?api-version=2025-08-28"
                     "&deployment=my-rt")
    assert e.deployment == "my-rt"
    # The same URL without the deployment takes it from --azure-deployment.
    e = resolve_endpoint(model="gpt-realtime", azure_deployment="dep2",
                         azure_endpoint="https://res.openai.azure.com/openai/realtime?api-version=v",
                         env={"AZURE_OPENAI_API_KEY": "az-key"})
    assert query(e) == [("api-version", "v"), ("deployment", "dep2")]


@pytest.mark.parametrize(("endpoint", "deployment", "message"), [
    (None, "dep", "Azure needs --azure-endpoint"),
    ("https://res.openai.azure.com", None,
     "Azure needs --azure-deployment (or the deployment in the --azure-endpoint URL)"),
    ("https://res.openai.azure.com/openai/v1/realtime?model=a", "b",
     "--azure-deployment b differs from the deployment a in --azure-endpoint"),
    ("https://res.openai.azure.com/openai/realtime?deployment=a", None,
     "an Azure /openai/realtime URL needs api-version= in its query "
     "(or give the resource URL alone, for the v1 API)"),
])
def test_azure_mistakes_are_one_line_errors(endpoint: str | None, deployment: str | None,
                                            message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_endpoint(model="m", azure_endpoint=endpoint, azure_deployment=deployment,
                         env={"AZURE_OPENAI_API_KEY": "az-key"})
    assert info.value.message == message


def test_azure_needs_its_key_except_on_loopback() -> None:
    with pytest.raises(ConfigError, match="AZURE_OPENAI_API_KEY is not set"):
        resolve_endpoint(model="m", azure_endpoint="https://res.openai.azure.com",
                         azure_deployment="d", env={"OPENAI_API_KEY": KEY})
    e = resolve_endpoint(model="m", azure_endpoint="http://127.0.0.1:9", azure_deployment="d",
                         env={})
    assert e.url == "ws://127.0.0.1:9/openai/v1/realtime?model=d" and e.headers == {}


@pytest.mark.parametrize(("kwargs", "env"), [
    ({"url": "ws://rt.example:8765/v1/realtime"}, {"OPENAI_API_KEY": KEY}),
    ({}, {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://10.0.0.5:8000/v1"}),
    ({"azure_endpoint": "http://res.example", "azure_deployment": "d"},
     {"AZURE_OPENAI_API_KEY": "az-key"}),
])
def test_a_key_never_goes_over_plain_ws_to_another_host(kwargs: dict[str, str],
                                                        env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_endpoint(model="m", env=env, **kwargs)
    assert "unencrypted ws://" in info.value.message and "--allow-insecure" in info.value.message
    assert info.value.exit_code == 2 and "\n" not in info.value.message
    assert KEY not in info.value.message and "az-key" not in info.value.message
    allowed = resolve_endpoint(model="m", env=env, allow_insecure=True, **kwargs)
    assert allowed.url.startswith("ws://") and allowed.headers


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "[::1]"])
def test_plain_ws_to_this_machine_may_carry_the_key(host: str) -> None:
    e = resolve_endpoint(model="m", url=f"ws://{host}:9/v1/realtime", env={"OPENAI_API_KEY": KEY})
    assert e.headers["Authorization"] == f"Bearer {KEY}"


def test_plain_ws_without_a_key_is_fine_anywhere() -> None:
    e = resolve_endpoint(model="m", url="ws://rt.example:8765/v1/realtime", env={})
    assert e.headers == {}


@pytest.mark.parametrize("kwargs", [
    {},
    {"url": "wss://h.example/v1/realtime"},
    {"azure_endpoint": "https://res.openai.azure.com", "azure_deployment": "d"},
])
def test_organization_and_project_headers_as_the_sdk_sends_them(kwargs: dict[str, str]) -> None:
    env = {"OPENAI_API_KEY": KEY, "AZURE_OPENAI_API_KEY": "az-key",
           "OPENAI_ORG_ID": "org-1", "OPENAI_PROJECT_ID": "proj_2"}
    e = resolve_endpoint(model="m", env=env, **kwargs)
    assert e.headers["OpenAI-Organization"] == "org-1"
    assert e.headers["OpenAI-Project"] == "proj_2"
    plain = resolve_endpoint(model="m", env={**env, "OPENAI_ORG_ID": " ", "OPENAI_PROJECT_ID": ""},
                             **kwargs)
    assert "OpenAI-Organization" not in plain.headers and "OpenAI-Project" not in plain.headers


def test_an_endpoint_without_query_secrets_connects_to_its_url_verbatim() -> None:
    endpoint = resolve_endpoint(model="gpt-realtime", url="ws://127.0.0.1:9/v1/realtime?", env={})
    assert endpoint.connect_url().reveal() == endpoint.url
    assert str(endpoint.connect_url()) == endpoint.url
