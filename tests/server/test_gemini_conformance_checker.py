"""The Gemini conformance checker (`tests/gemini_conformance.py`) rejects what the wire never
carries, so the twin's tests cannot pass on messages the SDK's types would refuse."""

from __future__ import annotations

from typing import Any

import pytest
from gemini_conformance import (
    GeminiConformanceError,
    validate_client_message,
    validate_server_message,
)


@pytest.mark.parametrize("message", [
    {"setupComplete": {}},
    {"serverContent": {"turnComplete": True},
     "usageMetadata": {"promptTokenCount": 3, "promptTokensDetails": [
         {"modality": "AUDIO", "tokenCount": 3}]}},
    {"serverContent": {"modelTurn": {"parts": [
        {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "AAD//w=="}}]}}},
    {"goAway": {"timeLeft": "1.5s"}},
])
def test_server_messages_of_the_service_pass(message: dict[str, Any]) -> None:
    validate_server_message(message)


@pytest.mark.parametrize("message", [
    {"setup_complete": {}},  # snake_case: the SDK reads it, the service never writes it
    {"setupComplete": None},
    {"serverContent": {"turnComplete": True, "done": True}},  # unknown field
    {"goAway": {"timeLeft": "1s"}, "setupComplete": {}},  # two messages in one
    {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "AA!A"}}]}}},
])
def test_server_messages_the_types_refuse_fail(message: dict[str, Any]) -> None:
    with pytest.raises(GeminiConformanceError):
        validate_server_message(message)


def test_realtime_input_config_is_checked_on_its_own() -> None:
    validate_client_message({"setup": {"model": "models/m", "realtimeInputConfig": {
        "automaticActivityDetection": {"disabled": True}}}})
    with pytest.raises(GeminiConformanceError):
        validate_client_message({"setup": {"model": "models/m", "realtimeInputConfig": {
            "automaticActivityDetection": {"enabled": False}}}})
    with pytest.raises(GeminiConformanceError):
        validate_client_message({"setup": {"model": "models/m"}, "toolResponse": {}})
