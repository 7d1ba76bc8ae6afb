"""The public surface of `agent.infinity`: what users import must be there and typed."""

from __future__ import annotations

import inspect
import types

from agent import infinity
from agent.infinity import models


def test_everything_in_all_is_importable_and_documented() -> None:
    assert infinity.__all__ == sorted(infinity.__all__)
    for name in infinity.__all__:
        obj = getattr(infinity, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"{name} has no docstring"
            assert not obj.__module__.split(".")[-1].startswith("_") or name in {
                "ApiClient",
                "Endpoint",
                "Http11Transport",
                "HttpRequest",
                "HttpResponse",
                "RetryPolicy",
                "RetryStats",
                "StreamResponse",
                "is_transient_status",
                "Transport",
                "TransportError",
                "public_url",
            }


def test_models_expose_every_endpoint_shape_and_the_events() -> None:
    for name in ("RequestTokenResult", "Participant", "ParticipantInfo", "ConferenceStatus"):
        assert hasattr(models, name), name
    assert models.events.EVENT_TYPES["message_received"] is models.events.MessageReceived


def test_every_endpoint_is_reachable_from_the_client_classes() -> None:
    # Each non-token endpoint key is used by some client method (read from the source:
    # a new endpoint without a method fails here).
    # The 46 breakout endpoints are used by the breakout client classes (`bep.`).
    main = inspect.getsource(infinity.client)
    breakout = inspect.getsource(infinity.breakout_client)
    assert len(infinity.endpoints.ENDPOINTS) == 108
    for key, endpoint in infinity.endpoints.ENDPOINTS.items():
        if key in {"request_token", "refresh_token", "release_token"}:
            continue
        module: types.ModuleType
        if key in infinity.breakout_endpoints.BREAKOUT_ENDPOINTS:
            module, source, prefix = infinity.breakout_endpoints, breakout, "bep"
        else:
            module, source, prefix = infinity.endpoints, main, "ep"
        constant = next(n for n, v in vars(module).items() if v is endpoint and n.isupper())
        assert f"{prefix}.{constant}" in source, f"no client method for {key}"


def test_top_level_surface_for_plugin_authors() -> None:
    import agent

    for name in agent.__all__:
        assert getattr(agent, name) is not None, name
    assert agent.Plugin.__module__ == "agent.runtime.plugin"
    assert agent.events.Stage.name == "stage"


def test_agent_all_matches_the_lazy_exports() -> None:
    import agent

    assert agent.__all__ == sorted(agent._EXPORTS)


def test_admin_surface_is_exported_and_documented() -> None:
    from agent import admin

    for name in admin.__all__:
        obj = getattr(admin, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"agent.admin.{name} has no docstring"
    # Implementation modules are private; users import from the package.
    assert all(not name.startswith("_") for name in admin.__all__)
    assert admin.ManagementClient.__module__ == "agent.admin._client"


def test_importing_agent_stays_light() -> None:
    # The CLI imports `agent`; listing the surface must not pull in aiortc or the runtime.
    import subprocess
    import sys

    probe = (
        "import sys, agent; names = dir(agent); "
        "print(len(names), 'aiortc' in sys.modules, 'agent.runtime' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    count, aiortc, runtime = out.stdout.split()
    assert int(count) > 60 and aiortc == "False" and runtime == "False"
