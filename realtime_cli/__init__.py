"""rt: a terminal voice client for the OpenAI Realtime API and compatible servers."""

__version__ = "0.1.0"
