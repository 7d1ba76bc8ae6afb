"""Importing the module of a `module:Class` or `./file.py:Class` plugin.

Users write a plugin next to their config and expect `--plugin greeter:Greeter` to find
`./greeter.py`, as `python -m` would; the `pexbot` script's `sys.path` starts at its own
folder instead. So a module not found on `sys.path` is looked up in the working directory,
and a path (`./greeter.py`, `plugins/greeter.py`) is loaded from that very file. The
plugin's folder is then appended to `sys.path` (at the end: it never shadows an installed
module) so the plugin can import its own helper modules, now and later.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def import_plugin_module(spec: str, cwd: Path | None = None) -> ModuleType:
    """The module `spec` names: a dotted module name or a `.py` file path, relative to
    `cwd` (default: the working directory). Raises `ImportError`."""
    folder = (cwd or Path.cwd()).resolve()
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = (folder / spec).resolve()
        if not path.is_file():
            raise ModuleNotFoundError(f"no such file: {path}")
        _append_to_path(path.parent)
        return _load_file(path)
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        # Only the plugin's own module missing falls back, not a missing dependency of it.
        if exc.name is None or spec.split(".", maxsplit=1)[0] != exc.name.split(".")[0]:
            raise
    if (
        not (folder / f"{spec.split('.', maxsplit=1)[0]}.py").is_file()
        and not (folder / spec.split(".", maxsplit=1)[0]).is_dir()
    ):
        raise ModuleNotFoundError(f"no module named {spec!r} on the Python path or in {folder}")
    _append_to_path(folder)
    return importlib.import_module(spec)


def _append_to_path(folder: Path) -> None:
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
        importlib.invalidate_caches()


def _load_file(path: Path) -> ModuleType:
    name = path.stem
    existing = sys.modules.get(name)
    if existing is not None:
        if Path(getattr(existing, "__file__", None) or "").resolve() == path:
            return existing  # loaded already (the CLI checks plugins before running them)
        name = f"_pexbot_plugin_{name}"  # never replace another module of that name
    location = importlib.util.spec_from_file_location(name, path)
    if location is None or location.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(location)
    # Registered before running, as an import does: dataclasses and pickling look it up.
    sys.modules[name] = module
    try:
        location.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
