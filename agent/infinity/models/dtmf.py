"""DTMF digits: the one validation, for the `dtmf` request bodies and everyone sending.

aiortc has no RFC 4733 sender, and Infinity takes DTMF through its REST `dtmf` endpoints
(participant and call level), so DTMF is a client API matter: the digits are checked here,
before any request is sent.
"""

import re

__all__ = ["DTMF_PATTERN", "InvalidDtmfError", "validate_dtmf"]

DTMF_PATTERN = re.compile(r"^[0-9*#A-D]+$")
_VALID = frozenset("0123456789*#ABCD")


class InvalidDtmfError(ValueError):
    """Digits contain characters outside 0-9 * # A-D."""

    def __init__(self, digits: str, bad: list[str]) -> None:
        self.digits = digits
        self.bad = bad
        if not digits:
            message = "DTMF digits must not be empty (allowed: 0-9 * # A-D)"
        else:
            shown = ", ".join(repr(c) for c in bad)
            message = f"invalid DTMF character(s) {shown} in {digits!r} (allowed: 0-9 * # A-D)"
        super().__init__(message)


def validate_dtmf(digits: str) -> str:
    """Return `digits` unchanged if valid, else raise InvalidDtmfError naming the bad ones.

    Letters must be upper case (A-D) as Infinity expects; lower case is rejected rather
    than silently changed.
    """
    if not isinstance(digits, str):
        raise TypeError(f"DTMF digits must be a str, got {type(digits).__name__}")
    if DTMF_PATTERN.fullmatch(digits):
        return digits
    bad = list(dict.fromkeys(c for c in digits if c not in _VALID))
    raise InvalidDtmfError(digits, bad)
