"""What `pexbot node` prints at start: the base URL first (scripts read that line), then
how to reach the management and control APIs, then the services."""

from __future__ import annotations

from .server import LocalNode


def startup_lines(node: LocalNode) -> list[str]:
    config = node.config
    lines = [node.base_url]
    management = config.management
    if management.is_default:
        lines.append(
            "management API: Basic auth admin / admin, the DEFAULT credentials: anyone who"
            " can reach this port can run it; set username and password under [management]"
            " in a node config (pexbot node --config node.toml)"
        )
    else:
        lines.append(
            f"management API: Basic auth as {management.username!r} (password from the node config)"
        )
    token = node.control_token
    if token is None:
        lines.append("control API (/_node/...): off; pexbot node --control turns it on")
    elif config.control.token is not None:
        lines.append(
            "control API (/_node/...): on, with the token from the node config"
            " (header Authorization: Bearer <token>)"
        )
    else:
        lines.append(f"control API (/_node/...): on, header Authorization: Bearer {token}")
    for service in config.services:
        pins = []
        if service.host_pin:
            pins.append(f"host PIN {service.host_pin}")
        if service.guest_pin:
            pins.append(f"guest PIN {service.guest_pin}")
        extra = f" ({', '.join(pins)})" if pins else ""
        lines.append(f"  {service.kind:<10} {', '.join(service.aliases)}{extra}")
    return lines
