"""Fixtures for `rt serve` tests: a server factory on a free loopback port, and real speech."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest

from realtime_cli.server import RunningServer, ServerOptions, run_server

from .rtclient import utterance

ServerFactory = Callable[..., AbstractAsyncContextManager[RunningServer]]


@pytest.fixture
def serve() -> ServerFactory:
    """`async with serve(pace=0, ...) as srv:` starts a server on port 0 with those options."""

    def start(**options: object) -> AbstractAsyncContextManager[RunningServer]:
        defaults: dict[str, object] = {"port": 0, "pace": 0.0}
        return run_server(ServerOptions(**{**defaults, **options}))  # type: ignore[arg-type]

    return start


@pytest.fixture(scope="session")
def hello_pcm() -> bytes:
    """~3 s of espeak-ng speech at 24 kHz between 300 ms and 800 ms of silence."""
    return utterance()


@pytest.fixture
async def srv(serve: ServerFactory) -> AsyncIterator[RunningServer]:
    async with serve() as running:
        yield running
