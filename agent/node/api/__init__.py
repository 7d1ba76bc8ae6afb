"""The client API v2 (`/api/client/v2/conferences/<alias>/...`): one module per area."""

from aiohttp import web

from . import call, chat, conference, events, participant, token


def add_routes(app: web.Application) -> None:
    for module in (token, events, conference, participant, call, chat):
        module.add_routes(app)


__all__ = ["add_routes"]
