"""The fault suite runs real processes with the end-to-end fixtures: spoken WAVs, `rt serve`
processes (checked for conformant client events at teardown) and an isolated rt environment."""

from __future__ import annotations

from e2e.conftest import data_dir, env, serve, wavs

__all__ = ["data_dir", "env", "serve", "wavs"]
