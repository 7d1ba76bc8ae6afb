"""dnspython, loaded when first used rather than when aiortc is imported.

aiortc imports aioice, whose `aioice.mdns` imports a dozen dnspython modules at its top
(~25 ms and ~2 MB of a bot's private memory) though they serve only mDNS: a remote
candidate named `<uuid>.local` (a browser hiding its address). A bot meeting Pexip
Infinity or the local node never sees one. So every `dns` module is found as usual but
loaded through `importlib.util.LazyLoader`: its module object exists at once, its code
runs on the first attribute access. aioice.mdns touches only `dns.rdataclass` at import;
the rest (messages, zones, names, rdata) loads when an mDNS name is resolved or published.

Installed by the process entry points pexbot owns (`agent.cli.main`, behind the `pexbot`
command and `python -m agent.cli`, and the benchmarks' `bench` package), before any command
imports aioice; never by `import agent`, so an application embedding pexbot keeps its
import system as it is (`LazyLoader` is not thread-safe on Python 3.11, and is no choice a
library should make for its host). If aioice ever imports them elsewhere, or
uses them at its import, tests/unit/test_lazy_imports.py fails loudly.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

#: Top-level packages loaded on first use.
LAZY_PACKAGES = ("dns",)


class _LazyFinder:
    """A `sys.meta_path` finder: finds `LAZY_PACKAGES` and their modules through the rest
    of `sys.meta_path` and hands back their spec with a lazy loader. (Not an
    `importlib.abc.MetaPathFinder`: importing `importlib.abc` pulls in
    `importlib.resources`.)"""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in LAZY_PACKAGES:
            return None
        spec: importlib.machinery.ModuleSpec | None = None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if isinstance(finder, _LazyFinder) or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        if spec is None:
            return None
        # A package is lazy too (importing one of its modules reads its __path__, which
        # loads it then).
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def defer_dnspython() -> None:
    """Load every `dns` module on first use from now on (once per process; a module
    already loaded stays as it is)."""
    if not any(isinstance(finder, _LazyFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LazyFinder())


def is_loaded(module: ModuleType) -> bool:
    """Whether a module's code has run (False for a lazy one not touched yet). `type()`,
    not `isinstance`: reading `__class__` would load it."""
    return type(module).__name__ != "_LazyModule"


def loaded_modules() -> list[str]:
    """The names in `sys.modules` whose code has run, sorted."""
    return sorted(name for name, module in list(sys.modules.items()) if is_loaded(module))
