"""docker/: the Dockerfile linted (hadolint), every Kubernetes manifest validated offline
against the Kubernetes 1.37 schemas (kubernetes-validate), and the manifests and the compose
file checked against what they promise: the commands they run parse with pexbot's own CLI,
the worker's grace period covers its drain, its requests follow the measured per-bot cost,
it claims within 80 % of its CPU limit (`--cpu-budget auto`),
every pod runs as the image's unprivileged user."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from agent.cli import build_parser
from agent.service._headroom import AUTO_SHARE

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
K8S = DOCKER / "k8s"
COMPOSE = DOCKER / "compose.yaml"
HADOLINT = Path(sys.executable).with_name("hadolint")
K8S_VERSION = "1.37.0"

# Commands written to their documented interface before they exist in pexbot's CLI (issue
# 18's `serve`/`worker`, issue 17's `probe`). Once a command exists, its arguments are
# parsed like every other; nothing else may be missing.
PENDING_COMMANDS: set[str] = set()

# The measured cost of one receive-only bot and of a worker process (README, bench/).
BOT_CPU_MILLICORES = 10  # up to 1 % of a core
BOT_MEMORY_MI = 2
PROCESS_MEMORY_MI = 100

MANIFESTS = sorted(K8S.rglob("*.yaml"))


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@cache
def _all() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in MANIFESTS:
        for doc in _documents(path):
            found.append((f"{path.relative_to(K8S)}:{doc['kind']}/{_name(doc)}", doc))
    return found


def _name(doc: dict[str, Any]) -> str:
    meta = doc["metadata"]
    return str(meta.get("name") or meta.get("generateName"))


def _find(kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for _, d in _all() if d["kind"] == kind and _name(d) == name]
    return doc


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    template = spec.get("template")
    return None if template is None else dict(template["spec"])


def _pods() -> list[tuple[str, dict[str, Any]]]:
    return [(where, pod) for where, doc in _all() if (pod := _pod_spec(doc)) is not None]


def _config_map_value(name: str, key: str) -> str:
    return str(_find("ConfigMap", name)["data"][key])


# --- Dockerfile -----------------------------------------------------------------------------


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    assert HADOLINT.exists(), f"{HADOLINT} missing: run `make .venv/.installed`"
    done = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def _stages() -> list[list[str]]:
    """Instructions per stage (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    stages: list[list[str]] = [[]]
    for line in lines:
        if line.startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_on_a_slim_python_with_an_unprivileged_entrypoint() -> None:
    preamble, *stages = _stages()
    assert preamble == ["ARG BASE=python:3.11-slim"]
    assert len(stages) >= 2
    # Every stage stands on BASE, directly or through an earlier stage.
    names: set[str] = set()
    for stage in stages:
        words = stage[0].split()
        assert words[1] == "${BASE}" or words[1] in names, stage[0]
        if len(words) == 4 and words[2] == "AS":
            names.add(words[3])
    assert stages[-1][0] == "FROM ${BASE}"
    final = stages[-1]
    # The final stage copies what the others built and installs nothing: the dependencies'
    # virtualenv (a big layer that changes with pyproject.toml) and pexbot (a small one).
    assert not [i for i in final if re.search(r"\b(apt-get|apt|pip|gcc|make)\b", i)]
    copies = [i for i in final if i.startswith("COPY --from=")]
    assert copies == [
        "COPY --from=deps /opt/pexbot /opt/pexbot",
        "COPY --from=app /opt/pexbot-app /opt/pexbot-app",
    ]
    (user,) = [i for i in final if i.startswith("USER ")]
    assert user == "USER 10001:10001"
    assert any(i.startswith("HEALTHCHECK ") for i in final)
    assert final[-2:] == ['ENTRYPOINT ["pexbot"]', 'CMD ["--help"]']


def test_dockerfile_keeps_this_machines_workarounds_out() -> None:
    # runc, ulimits, local CA certificates and the local base belong to scripts/container.py.
    text = DOCKERFILE.read_text()
    for word in ("runc", "ulimit", "ca-certificates", "mmdebstrap", "localhost/", "pip.conf"):
        assert word not in text, word


# --- Kubernetes manifests -------------------------------------------------------------------


def test_every_expected_resource_is_there() -> None:
    kinds = {(doc["kind"], _name(doc)) for _, doc in _all()}
    assert {
        ("Deployment", "pexbot-worker"),
        ("Deployment", "pexbot-api"),
        ("Service", "pexbot-api"),
        ("Job", "pexbot-meeting-"),
        ("CronJob", "pexbot-probe"),
        ("PodDisruptionBudget", "pexbot-worker"),
        ("PodDisruptionBudget", "pexbot-api"),
    } <= kinds


@pytest.mark.parametrize("where", [w for w, _ in _all()])
def test_manifest_validates_against_the_kubernetes_schemas(where: str) -> None:
    (doc,) = [d for w, d in _all() if w == where]
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{where}: {str(exc).splitlines()[0]}")


def test_the_validator_rejects_a_broken_manifest() -> None:
    doc = _find("Deployment", "pexbot-worker")
    broken = yaml.safe_load(yaml.safe_dump(doc))
    broken["spec"]["template"]["spec"]["containers"][0]["resources"]["request"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_worker_grace_period_covers_the_drain() -> None:
    worker = _find("Deployment", "pexbot-worker")
    pod = worker["spec"]["template"]["spec"]
    drain = int(_config_map_value("pexbot", "drain-seconds"))
    (container,) = pod["containers"]
    hook = " ".join(container["lifecycle"]["preStop"]["exec"]["command"])
    assert "kill -TERM 1" in hook
    assert "PEXBOT_DRAIN_SECONDS + 10" in hook  # the hook's own bound
    env = {e["name"]: e for e in container["env"]}
    assert env["PEXBOT_DRAIN_SECONDS"]["valueFrom"]["configMapKeyRef"]["key"] == "drain-seconds"
    # ...and the worker itself drains that long (not its default).
    args = _expand_k8s(container["args"], container)
    assert args[args.index("--drain-seconds") + 1] == str(drain)
    # Kubernetes must not SIGKILL during the drain and the hook's wait; nor wait for long
    # after (a node drain waits for it).
    assert drain + 10 <= pod["terminationGracePeriodSeconds"] <= drain + 30
    # Rolling updates add a worker before draining one.
    assert worker["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def _millicores(value: str) -> int:
    return int(value[:-1]) if value.endswith("m") else int(float(value) * 1000)


def _mebibytes(value: str) -> int:
    assert value.endswith("Mi"), value
    return int(value[:-2])


def test_worker_requests_follow_the_per_bot_cost() -> None:
    (container,) = _find("Deployment", "pexbot-worker")["spec"]["template"]["spec"]["containers"]
    capacity = int(_config_map_value("pexbot", "worker-capacity"))
    requests = container["resources"]["requests"]
    cpu = _millicores(requests["cpu"])
    memory = _mebibytes(requests["memory"])
    assert capacity * BOT_CPU_MILLICORES <= cpu <= capacity * BOT_CPU_MILLICORES * 2
    needed = PROCESS_MEMORY_MI + capacity * BOT_MEMORY_MI
    assert needed <= memory <= needed * 1.5
    limits = container["resources"]["limits"]
    assert _mebibytes(limits["memory"]) >= 2 * memory
    # The CPU limit is what `--cpu-budget auto` fills to 80 %: far above the bots' steady
    # need (a throttled bot drops media), and room for `capacity` bots at the measured cost.
    limit = _millicores(limits["cpu"])
    assert limit >= 4 * cpu
    assert AUTO_SHARE * limit >= cpu + capacity * BOT_CPU_MILLICORES


def _worker_container() -> dict[str, Any]:
    (container,) = _find("Deployment", "pexbot-worker")["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_the_worker_claims_within_80_percent_of_its_cpu_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's arguments, parsed by the service CLI's own parser and turned into its
    settings as `pexbot worker` does, in a container whose cgroup holds the manifest's CPU
    limit (a fake cgroup v2 `cpu.max`): the budget is 80 % of that limit, the drain the
    ConfigMap's, and the budget has room for the full capacity at the default cost."""
    from agent.service import _headroom
    from agent.service.cli import _worker_settings, add_parsers

    container = _worker_container()
    args = _expand_k8s(container["args"], container)
    assert args[args.index("--cpu-budget") + 1] == "auto"
    limit = _millicores(container["resources"]["limits"]["cpu"])
    (tmp_path / "cpu.max").write_text(f"{limit * 100} 100000\n")
    real_auto_budget = _headroom.auto_budget
    monkeypatch.setattr(_headroom, "auto_budget", lambda: real_auto_budget(tmp_path))

    parser = argparse.ArgumentParser(prog="pexbot")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    settings = _worker_settings(_parsed(parser, args))
    assert settings.cpu_budget == pytest.approx(AUTO_SHARE * limit / 1000)
    assert settings.capacity == int(_config_map_value("pexbot", "worker-capacity"))
    assert settings.drain_seconds == float(_config_map_value("pexbot", "drain-seconds"))
    # Measured bots cost at least half the default (`CpuHeadroom.bot_cores`): all fit.
    floor = settings.bot_cores / 2
    assert settings.cpu_budget >= settings.capacity * floor + 0.05  # + the process


@pytest.mark.parametrize("where", [w for w, _ in _pods()])
def test_pods_run_as_the_images_user_with_nothing_extra(where: str) -> None:
    (pod,) = [p for w, p in _pods() if w == where]
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == (10001, 10001)
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["containers"]:
        own = container["securityContext"]
        assert own["allowPrivilegeEscalation"] is False
        assert own["readOnlyRootFilesystem"] is True
        assert own["capabilities"] == {"drop": ["ALL"]}
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts  # writable scratch under a read-only root


def test_budgets_and_service_select_the_pods_they_mean() -> None:
    for name in ("pexbot-worker", "pexbot-api"):
        labels = _find("Deployment", name)["spec"]["template"]["metadata"]["labels"]
        selector = _find("PodDisruptionBudget", name)["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
    assert _find("PodDisruptionBudget", "pexbot-worker")["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app.kubernetes.io/name": "pexbot-worker"}},
    }
    service = _find("Service", "pexbot-api")["spec"]
    api = _find("Deployment", "pexbot-api")["spec"]["template"]
    assert service["selector"].items() <= api["metadata"]["labels"].items()
    (container,) = api["spec"]["containers"]
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["ports"]} <= port_names


def test_one_meeting_job_does_not_retry_what_a_retry_cannot_fix() -> None:
    job = _find("Job", "pexbot-meeting-")["spec"]
    (rule,) = job["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"]["values"] == [2, 11]  # configuration, invalid PIN
    assert job["template"]["spec"]["restartPolicy"] == "Never"
    (container,) = job["template"]["spec"]["containers"]
    assert "--pin-env" in container["args"]
    assert not [a for a in container["args"] if re.fullmatch(r"\d{4,}", a)]  # no PIN inline


# --- the commands they run ------------------------------------------------------------------


def _parse(args: list[str]) -> str | None:
    """Parse `pexbot ARGS` with pexbot's CLI; the command name when it is still pending."""
    parser, commands = build_parser()
    if args[0] not in commands:
        assert args[0] in PENDING_COMMANDS, f"pexbot has no command {args[0]!r}"
        return args[0]
    assert isinstance(_parsed(parser, args), argparse.Namespace)
    return None


def _parsed(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    """`args` parsed by `parser`; a failed parse fails the test with argparse's message."""
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            return parser.parse_args(args)
        except SystemExit:
            pytest.fail(f"pexbot {' '.join(args)}: {stderr.getvalue()}")


def _expand_k8s(args: list[str], container: dict[str, Any]) -> list[str]:
    """$(VAR) references, resolved from the container's env and the ConfigMaps."""
    values: dict[str, str] = {}
    for entry in container.get("env", []):
        if "value" in entry:
            values[entry["name"]] = entry["value"]
        elif ref := entry["valueFrom"].get("configMapKeyRef"):
            values[entry["name"]] = _config_map_value(ref["name"], ref["key"])
        else:
            values[entry["name"]] = "from-a-secret"

    def one(arg: str) -> str:
        def sub(m: re.Match[str]) -> str:
            assert m.group(1) in values, f"$({m.group(1)}) is not defined"
            return values[m.group(1)]

        return re.sub(r"\$\((\w+)\)", sub, arg)

    return [one(a) for a in args]


@pytest.mark.parametrize("where", [w for w, _ in _pods()])
def test_manifest_commands_parse_with_pexbots_cli(where: str) -> None:
    (pod,) = [p for w, p in _pods() if w == where]
    for container in pod["containers"]:
        assert "command" not in container  # the image's entrypoint is pexbot
        _parse(_expand_k8s(container["args"], container))


def _compose() -> dict[str, Any]:
    def default(m: re.Match[str]) -> str:
        return m.group(2) if m.group(2) is not None else ""

    text = re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", default, COMPOSE.read_text())
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_compose_runs_redis_the_api_two_workers_and_a_node_on_the_host_network() -> None:
    services = _compose()["services"]
    assert set(services) == {"redis", "api", "worker-1", "worker-2", "node"}
    assert {s["network_mode"] for s in services.values()} == {"host"}
    pending = set()
    for name, service in services.items():
        if name == "redis":
            assert service["command"][0] == "redis-server"
            continue
        assert service["image"] == "pexbot:latest"
        if (command := _parse(service["command"])) is not None:
            pending.add(command)
    assert services["worker-1"]["command"] == services["worker-2"]["command"]
    assert services["worker-1"]["command"][:2] == ["worker", "--redis"]
    # A stop waits for the drain, as in Kubernetes.
    assert services["worker-1"]["stop_grace_period"] == "75s"
    assert pending <= PENDING_COMMANDS


def test_every_pexbot_service_binds_loopback_unless_told() -> None:
    for name, service in _compose()["services"].items():
        command = service["command"]
        for flag in ("--host", "--bind"):
            if flag in command:
                assert command[command.index(flag) + 1] == "127.0.0.1", name


def test_the_probe_cronjobs_config_is_one_pexbot_probe_accepts(tmp_path: Path) -> None:
    from agent.runtime.probe_run import load_probe_file

    (config_map,) = [d for _, d in _all() if d["kind"] == "ConfigMap" and "probe.toml" in d["data"]]
    path = tmp_path / "probe.toml"
    path.write_text(config_map["data"]["probe.toml"])
    config = load_probe_file(path)
    assert [t.alias for t in config.targets] == ["test_call"]
