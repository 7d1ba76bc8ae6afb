"""The client API v2 (`/api/client/v2/conferences/<alias>/...`): one module per area."""

from aiohttp import web

from . import (
    breakouts,
    call,
    chat,
    conference,
    events,
    far_end,
    layouts,
    participant,
    token,
    viewing,
)


def add_routes(app: web.Application) -> None:
    for module in (
        token,
        events,
        conference,
        layouts,
        participant,
        viewing,
        far_end,
        call,
        chat,
        breakouts,
    ):
        module.add_routes(app)


__all__ = ["add_routes"]
