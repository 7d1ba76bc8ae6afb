"""Shared helpers for the media unit tests (loopback peer pairs)."""
