"""The OpenVidu surface: what users import is there and documented, and the client and the
emulated server share no code (neither can hide the other's bugs)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from agent.admin import openvidu

AGENT = Path(__file__).resolve().parents[2] / "agent"


def test_everything_in_all_is_importable_and_documented() -> None:
    for name in openvidu.__all__:
        obj = getattr(openvidu, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"{name} has no docstring"


def _imports(package: Path) -> set[str]:
    """Every module a package's files import, relative imports resolved."""
    found: set[str] = set()
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(AGENT.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = parts[: len(parts) - node.level] if node.level else []
                found.add(".".join([*base, *(node.module or "").split(".")]).strip("."))
    return found


def test_client_and_emulated_server_share_no_code() -> None:
    server = _imports(AGENT / "openvidu_server")
    assert not {m for m in server if m.startswith(("agent.admin", "agent.node"))}
    client = {m for m in _imports(AGENT / "admin") if m.startswith("agent.")}
    assert not {m for m in client if m.startswith(("agent.openvidu_server", "agent.node"))}
    assert not {m for m in client if m.startswith(("agent.runtime", "agent.service"))}
