"""The local node's management API (`/api/admin/{status,history,command}/v1/...`): HTTP Basic
auth, Tastypie list semantics, on the same in-memory state as the client API.

Routes are registered by `agent.node.admin.routes.add_routes`; this package imports nothing
at import time so that `context.py` can use `admin.streams` without an import cycle.
"""
