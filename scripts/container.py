"""Builds pexbot's container image with whichever engine works on this machine.

    python3 scripts/container.py engine   # which engine `make image` uses, and why
    python3 scripts/container.py base     # the local base image (podman only), cached
    python3 scripts/container.py build    # docker/Dockerfile -> $IMAGE (default pexbot:latest)
                                          # (NO_CACHE=1: rebuild every layer)
    python3 scripts/container.py redis    # a local Redis image for docker/compose.yaml
    python3 scripts/container.py conf     # path of the containers.conf podman runs with

`docker/Dockerfile` stays plain (`ARG BASE=python:3.11-slim`) and builds anywhere with a
registry. Machines without one, behind a TLS-intercepting proxy, or whose kernel and limits
podman's defaults trip over take the local path kept here, not in the Dockerfile:

- engine: docker when `docker info` answers (a client without a daemon is not enough),
  else podman; `ENGINE=docker|podman` overrides.
- podman runs with a generated containers.conf (`CONTAINERS_CONF`): runc instead of crun
  (crun fails every build step on hybrid cgroups) and default ulimits no higher than this
  shell's hard limits (podman's defaults exceed them: "error setting rlimit").
- podman builds on a local base image: Debian's Python (bookworm's is 3.11, like
  python:3.11-slim) bootstrapped with mmdebstrap from this machine's apt mirrors, trusting
  this machine's local CA certificates (pip goes through the same TLS interception as the
  host). It is rebuilt only when its inputs change. `BASE=python:3.11-slim` skips it.

Standard library only: it runs before the virtualenv exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Generated files (containers.conf, the Redis build context); tests point it elsewhere.
STATE = Path(os.environ.get("PEXBOT_CONTAINER_STATE") or REPO / "build" / "container")
DOCKERFILE = REPO / "docker" / "Dockerfile"
DEFAULT_IMAGE = "pexbot:latest"
BASE_TAG = "localhost/pexbot-base:bookworm"
REDIS_TAG = "localhost/pexbot-redis:bookworm"
FINGERPRINT_LABEL = "org.pexbot.base.fingerprint"
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

REDIS_CONTAINERFILE = """\
FROM @BASE@
RUN apt-get update \\
 && apt-get install -y --no-install-recommends redis-server \\
 && rm -rf /var/lib/apt/lists/* \\
 && install -d -o redis -g redis /data
USER redis
WORKDIR /data
CMD ["redis-server", "--bind", "127.0.0.1", "--dir", "/data"]
"""


class Failure(Exception):
    """A one-line reason the build cannot go on."""


@dataclass(frozen=True)
class Engine:
    name: str  # "docker" or "podman"
    why: str

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.name == "podman":
            env["CONTAINERS_CONF"] = str(write_containers_conf())
        return env

    def run(self, *args: str) -> None:
        """Run the engine; its output goes to stderr (stdout is this script's answer)."""
        cmd = [self.name, *args]
        print("+", " ".join(cmd), file=sys.stderr, flush=True)
        result = subprocess.run(cmd, env=self.env(), check=False, stdout=sys.stderr)
        if result.returncode != 0:
            raise Failure(f"`{' '.join(cmd[:3])} ...` exited {result.returncode}")

    def labels(self, tag: str) -> dict[str, str] | None:
        """The image's labels, or None when there is no such image."""
        cmd = [self.name, "image", "inspect", "--format", "{{json .Config.Labels}}", tag]
        done = subprocess.run(cmd, env=self.env(), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return None
        labels = json.loads(done.stdout or "null") or {}
        return {str(k): str(v) for k, v in labels.items()}


def _answers(cmd: list[str]) -> bool:
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def pick_engine() -> Engine:
    forced = os.environ.get("ENGINE", "")
    if forced:
        if forced not in ("docker", "podman"):
            raise Failure(f"ENGINE must be docker or podman, not {forced!r}")
        if shutil.which(forced) is None:
            raise Failure(f"ENGINE={forced} but `{forced}` is not on PATH")
        return Engine(forced, "ENGINE is set")
    if shutil.which("docker") and _answers(["docker", "info"]):
        return Engine("docker", "`docker info` answers")
    if shutil.which("podman"):
        why = "podman is installed"
        if shutil.which("docker"):
            why += " (the docker client has no daemon: `docker info` fails)"
        return Engine("podman", why)
    raise Failure(
        "no container engine: neither a working docker (`docker info`) nor podman; "
        "`make sysdeps` installs podman"
    )


def _limit(which: int) -> int | None:
    hard = resource.getrlimit(which)[1]
    return None if hard == resource.RLIM_INFINITY else hard


# Enough for any pexbot container; runc cannot set more than the host allows (and on some
# hosts, e.g. nproc here, less than the hard limit it reports).
ULIMIT_CAPS = {"nofile": 65536, "nproc": 4096}


def containers_conf_text() -> str:
    """runc when present, and default ulimits within this shell's hard limits."""
    ulimits = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = _limit(which)
        value = ULIMIT_CAPS[name] if hard is None else min(hard, ULIMIT_CAPS[name])
        ulimits.append(f'"{name}={value}:{value}"')
    lines = ["[containers]", f"default_ulimits = [{', '.join(ulimits)}]", ""]
    if shutil.which("runc"):
        lines += ["[engine]", 'runtime = "runc"', ""]
    return "\n".join(lines)


def write_containers_conf() -> Path:
    path = STATE / "containers.conf"
    text = containers_conf_text()
    if not path.exists() or path.read_text() != text:
        STATE.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for raw in [*text.splitlines(), ""]:
        line = raw.rstrip()
        if line.startswith("#"):
            continue
        if not line:
            if current:
                stanzas.append(current)
            current, key = {}, ""
        elif line[0] in " \t" and key:
            current[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            current[key] = value.strip()
    return stanzas


def mirror_lines(suite: str = SUITE, sources: tuple[Path, ...] = APT_SOURCES) -> list[str]:
    """The host's enabled apt entries for Debian `suite` (and its -updates/-security), as
    one-line `deb URI SUITE COMPONENTS` entries for mmdebstrap. Third-party repositories
    (other suites) are left out."""
    files: list[Path] = []
    for source in sources:
        if source.is_dir():
            files += sorted(p for p in source.iterdir() if p.suffix in (".list", ".sources"))
        elif source.is_file():
            files.append(source)
    lines: list[str] = []
    for path in files:
        text = path.read_text()
        if path.suffix == ".sources":
            for stanza in _deb822_stanzas(text):
                if "deb" not in stanza.get("types", "").split():
                    continue
                if stanza.get("enabled", "yes").lower() == "no":
                    continue
                components = stanza.get("components", "main")
                for uri in stanza.get("uris", "").split():
                    for entry_suite in stanza.get("suites", "").split():
                        if entry_suite == suite or entry_suite.startswith(suite + "-"):
                            lines.append(f"deb {uri} {entry_suite} {components}")
            continue
        for raw in text.splitlines():
            words = raw.split("#", 1)[0].split()
            if not words or words[0] != "deb":
                continue
            words = words[1:]
            if words and words[0].startswith("["):  # options such as [arch=amd64]
                while words and not words[0].endswith("]"):
                    words = words[1:]
                words = words[1:]
            if len(words) >= 3 and (words[1] == suite or words[1].startswith(suite + "-")):
                lines.append("deb " + " ".join(words))
    # One entry per line, first one wins, order kept.
    return list(dict.fromkeys(lines))


def local_ca_files() -> list[Path]:
    if not LOCAL_CA_DIR.is_dir():
        return []
    return sorted(p for p in LOCAL_CA_DIR.rglob("*.crt") if p.is_file())


def base_fingerprint(mirrors: list[str], cas: list[Path]) -> str:
    digest = hashlib.sha256()
    record = {
        "suite": SUITE,
        "packages": BASE_PACKAGES,
        "mirrors": mirrors,
        "cas": [[str(p), hashlib.sha256(p.read_bytes()).hexdigest()] for p in cas],
        "version": 2,
    }
    digest.update(json.dumps(record, sort_keys=True).encode())
    return digest.hexdigest()


def build_base(engine: Engine) -> str:
    """The local base image, bootstrapped only when missing or when its inputs changed."""
    if engine.name != "podman":
        raise Failure("the local base image is for podman; docker builds on python:3.11-slim")
    mirrors = mirror_lines()
    if not mirrors:
        raise Failure(f"no Debian {SUITE} entry in /etc/apt/sources.list(.d): cannot bootstrap")
    cas = local_ca_files()
    fingerprint = base_fingerprint(mirrors, cas)
    # The stamp is a label on the image itself: it survives `make clean`, is shared by every
    # checkout on the machine, and goes away with the image.
    if (engine.labels(BASE_TAG) or {}).get(FINGERPRINT_LABEL) == fingerprint:
        print(f"base image {BASE_TAG} is up to date", file=sys.stderr)
        return BASE_TAG
    if shutil.which("mmdebstrap") is None:
        raise Failure("mmdebstrap is not installed; `make sysdeps` installs it")
    STATE.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    hooks = [
        # pip inside the image goes through the same TLS interception as the host.
        'mkdir -p "$1/usr/local/share/ca-certificates"',
        *[f'cp "{ca}" "$1/usr/local/share/ca-certificates/"' for ca in cas],
        'chroot "$1" update-ca-certificates',
        f"printf '[global]\\ncert = {SYSTEM_BUNDLE}\\n' > \"$1/etc/pip.conf\"",
    ]
    with tempfile.TemporaryDirectory(dir=STATE) as tmp:
        tarball = Path(tmp) / "base.tar"
        cmd = [
            "mmdebstrap",
            "--variant=minbase",
            "--quiet",
            # Documentation and translations are of no use in an image.
            *[f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("doc", "man", "info", "locale")],
            f"--include={','.join(BASE_PACKAGES)}",
            *[f"--customize-hook={hook}" for hook in hooks],
            SUITE,
            str(tarball),
            *mirrors,
        ]
        print("+ mmdebstrap ...", SUITE, " ".join(mirrors), file=sys.stderr, flush=True)
        if subprocess.run(cmd, check=False).returncode != 0:
            raise Failure("mmdebstrap failed to bootstrap the base image")
        engine.run(
            "import",
            "--change",
            'CMD ["python3"]',
            "--change",
            f"LABEL {FINGERPRINT_LABEL}={fingerprint}",
            str(tarball),
            BASE_TAG,
        )
    print(f"base image {BASE_TAG} built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return BASE_TAG


def build_image(engine: Engine, tag: str) -> None:
    base = os.environ.get("BASE", "")
    if not base and engine.name == "podman":
        base = build_base(engine)
    args = ["build", "-f", str(DOCKERFILE), "-t", tag]
    if base:
        args += ["--build-arg", f"BASE={base}"]
    if os.environ.get("NO_CACHE"):
        args.append("--no-cache")  # a cold build of the image (the base image is kept)
    if engine.name == "podman":
        # The docker format keeps HEALTHCHECK (OCI images have no field for it); host
        # networking needs no bridge or firewall set-up for pip's downloads.
        args += ["--format", "docker", "--network", "host"]
    started = time.monotonic()
    engine.run(*args, str(REPO))
    print(f"image {tag} built in {time.monotonic() - started:.0f} s", file=sys.stderr)


def build_redis(engine: Engine) -> str:
    """Redis from Debian on the local base, for compose where no registry is reachable."""
    if engine.name != "podman":
        raise Failure("the local Redis image is for podman; docker pulls redis from a registry")
    base = build_base(engine)
    context = STATE / "redis"
    context.mkdir(parents=True, exist_ok=True)
    containerfile = context / "Containerfile"
    containerfile.write_text(REDIS_CONTAINERFILE.replace("@BASE@", base))
    args = ["build", "--format", "docker", "--network", "host", "-t", REDIS_TAG]
    engine.run(*args, "-f", str(containerfile), str(context))
    return REDIS_TAG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/container.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["engine", "base", "build", "redis", "conf"])
    args = parser.parse_args(argv)
    try:
        engine = pick_engine()
        if args.command == "engine":
            print(engine.name)
            print(f"container.py: {engine.name}: {engine.why}", file=sys.stderr)
        elif args.command == "base":
            print(build_base(engine))
        elif args.command == "build":
            build_image(engine, os.environ.get("IMAGE", DEFAULT_IMAGE))
        elif args.command == "redis":
            print(build_redis(engine))
        else:
            print(write_containers_conf())
    except Failure as exc:
        print(f"container.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
