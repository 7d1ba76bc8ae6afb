from __future__ import annotations

import pytest

from agent.infinity.models import DtmfBody, InvalidDtmfError, validate_dtmf


@pytest.mark.parametrize("digits", ["0", "123456789", "*#", "ABCD", "1*2#3A"])
def test_valid(digits: str) -> None:
    assert validate_dtmf(digits) == digits


@pytest.mark.parametrize(
    ("digits", "bad"),
    [("12e4", ["e"]), ("a", ["a"]), ("1 2", [" "]), ("E+E", ["E", "+"]), ("1\n", ["\n"])],
)
def test_invalid_names_the_characters(digits: str, bad: list[str]) -> None:
    with pytest.raises(InvalidDtmfError) as info:
        validate_dtmf(digits)
    assert info.value.bad == bad
    for char in bad:
        assert repr(char) in str(info.value)
    assert "0-9 * # A-D" in str(info.value)


def test_empty_and_wrong_type() -> None:
    with pytest.raises(InvalidDtmfError, match="must not be empty"):
        validate_dtmf("")
    with pytest.raises(TypeError):
        validate_dtmf(5)  # type: ignore[arg-type]


def test_the_request_body_uses_the_same_check() -> None:
    # One validation: the `dtmf` body refuses what `validate_dtmf` refuses, with its words.
    assert DtmfBody(digits="12#").digits == "12#"
    with pytest.raises(ValueError, match=r"invalid DTMF character\(s\) 'x'"):
        DtmfBody(digits="1x")
