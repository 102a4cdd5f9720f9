"""Text as every encoder accepts it.

JSON may escape half of a UTF-16 pair (`"\\ud800"`), and Python then holds a `str` that no
UTF-8 encoder takes: the first print, log line or SQLite write of it would raise. Both places
where outside text enters rt (the wire codec and the journal) pass it through here.
"""

from __future__ import annotations


def without_lone_surrogates(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD; two halves that form a pair are
    joined into their character. Text that already encodes is returned as it is (the common,
    cheap case)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text
