"""Fixtures for the end-to-end tests: spoken WAVs, `rt serve` processes, an rt environment.

Every server a test starts is stopped afterwards, and every client event it recorded is then
checked against the `openai` package's models plus the unknown-key check (conformance.py), or,
for the Gemini twin (`serve_gemini`), against the `google-genai` Live types
(gemini_conformance.py): a test that made rt send a non-conformant event fails at teardown even
if its own asserts pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conformance import ConformanceError, validate_client_event
from gemini_conformance import GeminiConformanceError, validate_client_message

from .support import Server, clean_env, start_server, write_wav

Q1 = "What is the weather like today?"
Q2 = "And what about tomorrow?"
LONG_ANSWER = ("Today will be sunny and warm with a light breeze from the west, and the evening "
               "stays clear and mild.")
SHORT_ANSWERS = ("Sunny and warm.", "Rain later.", "Sure.")


@dataclass(frozen=True)
class Wavs:
    question: Path  # one question, then silence
    two_turns: Path  # a question, a long pause (the answer plays, faults happen), another one
    barge_in: Path  # a question, a pause while the answer starts, speech over the answer
    long_pause: Path  # two questions with 8 s between them (crash and signal tests)


@pytest.fixture(scope="session")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> Wavs:
    d = tmp_path_factory.mktemp("wavs")
    return Wavs(
        question=write_wav(d / "question.wav", [300, Q1, 1500]),
        two_turns=write_wav(d / "two_turns.wav", [300, Q1, 4000, Q2, 1500]),
        barge_in=write_wav(d / "barge_in.wav", [300, Q1, 2500, Q2, 1500]),
        long_pause=write_wav(d / "long_pause.wav", [300, Q1, 2500, Q2, 8000]),
    )


def check_records(servers: list[Server], gemini: bool = False) -> list[str]:
    problems = []
    for srv in servers:
        for line in srv.lines():
            try:
                if gemini:
                    validate_client_message(line["event"])
                else:
                    validate_client_event(line["event"])
            except (ConformanceError, GeminiConformanceError) as exc:
                problems.append(f"{srv.record.name} conn {line['conn']}: {exc}")
    return problems


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """`serve("--garbage", script=[...])` starts `rt serve --port 0 --record ...`."""
    servers: list[Server] = []

    def start(*flags: str, script: tuple[str, ...] | list[str] = SHORT_ANSWERS) -> Server:
        srv = start_server(tmp_path / "serve", *flags, script=script)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()
    problems = check_records(servers)
    assert not problems, "non-conformant client events:\n" + "\n".join(problems)


@pytest.fixture
def serve_gemini(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """`serve_gemini("--expire-after", "12")` starts `rt serve --protocol gemini --port 0
    --record ...`; its recorded client messages must conform to google-genai's Live types."""
    servers: list[Server] = []

    def start(*flags: str, script: tuple[str, ...] | list[str] = SHORT_ANSWERS) -> Server:
        srv = start_server(tmp_path / "gemini-serve", "--protocol", "gemini", *flags,
                           script=script)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()
    problems = check_records(servers, gemini=True)
    assert not problems, "non-conformant client messages:\n" + "\n".join(problems)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    """rt's environment: data in tmp, no config file, no real key."""
    return clean_env(data_dir)
