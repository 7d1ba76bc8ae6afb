"""dnspython loads on first use (agent/_lazy_imports.py) in pexbot's own processes:
importing aiortc there runs none of its message, zone or name code, and an mDNS candidate
(`<uuid>.local`) still resolves, loading them then. If the seam moves (aioice imports
dnspython elsewhere, or uses more of it at import) these fail loudly: re-read aioice/mdns.py
and aioice/ice.py. The `pexbot` command installs it; `import agent` (an application
embedding pexbot) leaves the import system alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aioice
import aiortc

#: The dnspython modules aioice.mdns runs at its import: `MDNS_RDCLASS` needs
#: `dns.rdataclass` (and the package, its enum, exception and version modules).
RUN_AT_IMPORT = {"dns", "dns.enum", "dns.exception", "dns.rdataclass", "dns.version"}
#: What mDNS needs and a bot never runs unless it meets a `.local` candidate.
HEAVY = ("dns.message", "dns.zone", "dns.name", "dns.rdata", "dns.rdataset", "dns.rdtypes")
#: What `pexbot` (`agent.cli.main`) does first; a test's process stands for its.
AS_PEXBOT = "from agent._lazy_imports import defer_dnspython\ndefer_dnspython()\n"


def _run(code: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout.splitlines()[-1]))


def test_only_aioice_mdns_imports_dnspython() -> None:
    """The one door: no other module of aioice or aiortc imports dnspython."""
    importers = []
    for package in (aioice, aiortc):
        for source in Path(package.__path__[0]).rglob("*.py"):
            if re.search(r"^\s*(import|from) dns\b", source.read_text(), re.MULTILINE):
                importers.append(f"{package.__name__}/{source.name}")
    assert importers == ["aioice/mdns.py"], importers


def test_importing_aiortc_through_pexbot_runs_no_dnspython_beyond_its_classes() -> None:
    got = _run(
        "import json, sys\n"
        f"{AS_PEXBOT}"
        "import agent, aiortc\n"
        "from agent._lazy_imports import loaded_modules\n"
        "dns = sorted(m for m in sys.modules if m.split('.')[0] == 'dns')\n"
        "ran = [m for m in loaded_modules() if m.split('.')[0] == 'dns']\n"
        "print(json.dumps({'imported': dns, 'ran': ran}))"
    )
    # aioice still imports the modules mDNS needs (else this seam is moot: drop it)...
    assert {"dns.message", "dns.zone", "dns.name", "dns.rdata"} <= set(got["imported"])
    # ...but only the few it uses at its import have run.
    assert set(got["ran"]) == RUN_AT_IMPORT, got["ran"]


def test_an_mdns_candidate_resolves_through_the_lazy_modules() -> None:
    """A `.local` remote candidate added to an aioice Connection is resolved by aioice's
    own MDnsProtocol, which loads dnspython then. No multicast: the protocol's transport
    is a stand-in that hands each query to a second MDnsProtocol (the remote side, which
    published the name) and its answer back."""
    got = _run(
        """
import asyncio, json, sys
@AS_PEXBOT@
import agent, aioice, aioice.ice
from aioice import mdns
from agent._lazy_imports import loaded_modules

HEAVY = @HEAVY@
def heavy(m): return m in HEAVY or m.startswith(tuple(h + '.' for h in HEAVY))
before = [m for m in loaded_modules() if heavy(m)]

class Socket:
    def setsockopt(self, *args): pass

class Wire:
    def __init__(self):
        self.peer = None
        self.closing = False
    def get_extra_info(self, name, default=None):
        return Socket() if name == "socket" else default
    def is_closing(self): return self.closing
    def close(self): self.closing = True
    def sendto(self, data, addr):
        assert addr == (mdns.MDNS_ADDRESS, mdns.MDNS_PORT), addr
        asyncio.get_running_loop().call_soon(self.peer.datagram_received, data, ("x", 5353))

async def main():
    local, remote = mdns.MDnsProtocol(), mdns.MDnsProtocol()
    local_wire, remote_wire = Wire(), Wire()
    local.connection_made(local_wire)
    remote.connection_made(remote_wire)
    local_wire.peer, remote_wire.peer = remote, local
    name = "3b1f6f2e-0c1d-4b7a-9d42-8f0e5a7c6d11.local"
    await remote.publish(name, "127.0.0.1")

    async def create():
        return local
    aioice.ice.mdns.create_mdns_protocol = create
    conn = aioice.Connection(ice_controlling=True)
    await conn.add_remote_candidate(aioice.Candidate(
        foundation="1", component=1, transport="udp", priority=1, host=name, port=4000,
        type="host"))
    resolved = [c.host for c in conn.remote_candidates]
    network = [getattr(c, "_network_host", None) for c in conn.remote_candidates]
    after = [m for m in loaded_modules() if heavy(m)]
    print(json.dumps({"before": before, "after": after, "hosts": resolved,
                      "network": network}))

asyncio.run(main())
""".replace("@HEAVY@", repr(HEAVY)).replace("@AS_PEXBOT@", AS_PEXBOT)
    )
    assert got["before"] == []
    assert {"dns.message", "dns.zone", "dns.name", "dns.rdata"} <= set(got["after"])
    assert got["hosts"] == ["3b1f6f2e-0c1d-4b7a-9d42-8f0e5a7c6d11.local"]
    assert got["network"] == ["127.0.0.1"]


def test_importing_agent_changes_no_import_system() -> None:
    """An application embedding pexbot keeps its `sys.meta_path`: `import agent`, its
    public names and aiortc through them install no finder, and dnspython loads as usual."""
    got = _run(
        "import json, sys\n"
        "before = list(sys.meta_path)\n"
        "import agent\n"
        "agent.Bot, agent.EncodedFrame\n"
        "import aiortc\n"
        "from agent._lazy_imports import loaded_modules\n"
        "print(json.dumps({'same': sys.meta_path == before, 'aiortc': 'aiortc' in sys.modules,"
        " 'ran': [m for m in loaded_modules() if m.split('.')[0] == 'dns']}))"
    )
    assert got["same"] is True and got["aiortc"] is True
    assert {"dns.message", "dns.name", "dns.rdata"} <= set(got["ran"]), got["ran"]


def test_every_console_script_of_pexbot_defers_dnspython_before_its_command() -> None:
    """Each `console_scripts` entry of the distribution (what `pip install` makes `pexbot`),
    loaded and run as its wrapper does, installs the finder before parsing its arguments."""
    got = _run(
        "import json, sys\n"
        "from importlib.metadata import distribution\n"
        "scripts = [e for e in distribution('pexbot').entry_points"
        " if e.group == 'console_scripts']\n"
        "out = {}\n"
        "for script in scripts:\n"
        "    before = [type(f).__name__ for f in sys.meta_path]\n"
        "    try:\n"
        "        script.load()(['--version'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    out[script.name] = (before, [type(f).__name__ for f in sys.meta_path])\n"
        "print(json.dumps(out))"
    )
    assert set(got) == {"pexbot"}, got  # a new entry point is checked here too
    for before, after in got.values():
        assert "_LazyFinder" not in before
        assert after == ["_LazyFinder", *before]
