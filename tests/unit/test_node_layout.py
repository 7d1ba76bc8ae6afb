"""The local node's house rules: it never imports the bot runtime, and no module of it grows
past 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

NODE = Path(__file__).resolve().parents[2] / "agent" / "node"


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved)."""
    package = ["agent", *path.relative_to(NODE.parent).parent.parts]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def test_the_node_never_imports_the_runtime() -> None:
    offenders = {
        str(path.relative_to(NODE)): sorted(
            name
            for name in _imports(path)
            if name.startswith(("agent.runtime", "agent.cli", "agent.config", "plugins"))
        )
        for path in NODE.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    # The resolution itself works: relative imports, one and two levels up.
    assert "agent.node.media.NodeMedia" in _imports(NODE / "context.py")
    assert "agent.node.config.NodeMediaConfig" in _imports(NODE / "media" / "mixer.py")


def test_no_node_module_over_500_lines() -> None:
    sizes = {p.relative_to(NODE): len(p.read_text().splitlines()) for p in NODE.rglob("*.py")}
    assert len(sizes) > 20
    assert {p: n for p, n in sizes.items() if n > 500} == {}
