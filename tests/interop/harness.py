"""The interop tests' harness: the page server and the Chromium launcher live in
`bench/_chromium.py`, shared with the benchmarks against a browser (bench must not import
from tests)."""

from bench._chromium import (
    BREAKOUT_PAGE,
    BUNDLE,
    CHROMIUM_FLAGS,
    FAKE_MEDIA_FLAGS,
    INSTALL_HINT,
    MEDIA_PAGE,
    PAGE,
    REPORT_JS,
    SDK_DIR,
    Chromium,
    PageServer,
    ProxiedRequest,
    find_chromium,
    group_alive,
    is_local_address,
    missing_prerequisites,
)

__all__ = [
    "BREAKOUT_PAGE",
    "BUNDLE",
    "CHROMIUM_FLAGS",
    "FAKE_MEDIA_FLAGS",
    "INSTALL_HINT",
    "MEDIA_PAGE",
    "PAGE",
    "REPORT_JS",
    "SDK_DIR",
    "Chromium",
    "PageServer",
    "ProxiedRequest",
    "find_chromium",
    "group_alive",
    "is_local_address",
    "missing_prerequisites",
]
