from __future__ import annotations

from realtime_cli.text import without_lone_surrogates


def test_lone_surrogates_become_replacement_characters() -> None:
    assert without_lone_surrogates("a \ud800 b \udfff") == "a \ufffd b \ufffd"
    assert without_lone_surrogates("end \ud83d") == "end \ufffd"
    without_lone_surrogates("x\udc00y").encode("utf-8")


def test_halves_of_a_pair_are_joined_and_clean_text_is_kept() -> None:
    assert without_lone_surrogates("\ud83d\ude00") == "\U0001f600"
    clean = "plain text, ünïcode and \U0001f600"
    assert without_lone_surrogates(clean) is clean
