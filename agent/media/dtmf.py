"""DTMF digit validation.

aiortc has no RFC 4733 sender, and Infinity takes DTMF through its REST `dtmf` endpoints
(participant and call level), so the media layer only validates digits; the REST call
lives with the client API.
"""

from __future__ import annotations

import re

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
