"""How decisions become actions: one small interface, two control planes.

`ClientActions` acts through the client API with the bot's own host controls
(`self.context`): the bot must have joined as a host, or every action fails with
`HostOnlyError`. `ManagementActions` acts through the management API
(`command/v1/...`) with admin credentials, whatever the bot's role; it has no command for
spotlight or "guests can unmute" (`UnsupportedActionError`).

Chat (the private message to a muted participant, the end-of-meeting warning) always goes
through the client API: guests may chat, and the management API has no chat.

Participant identity: the management API's participant `id` is taken to be the client
API's participant uuid. That is what Pexip documents (both are the participant's UUID)
and what the local node does; it is assumed in `ManagementActions` only.
"""

from __future__ import annotations

from typing import Protocol

from agent import ManagementClient, PluginContext

__all__ = ["Actions", "ClientActions", "ManagementActions", "UnsupportedActionError"]


class UnsupportedActionError(RuntimeError):
    """The chosen control plane has no way to do this."""


class Actions(Protocol):
    #: "client" or "management" (in the audit lines).
    backend: str

    async def mute(self, uuid: str) -> None: ...

    async def disconnect(self, uuid: str) -> None: ...

    async def admit(self, uuid: str) -> None: ...

    async def lock(self) -> None: ...

    async def spotlight(self, uuid: str, on: bool) -> None: ...

    async def set_guests_can_unmute(self, allowed: bool) -> None: ...

    async def tell(self, uuid: str, text: str) -> None:
        """A private chat message to one participant."""

    async def announce(self, text: str) -> None:
        """A chat message to everyone."""

    async def aclose(self) -> None: ...


class _Chat:
    """Chat through the client API, whatever plane acts."""

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    async def tell(self, uuid: str, text: str) -> None:
        await self.context.send_private_message(uuid, text)

    async def announce(self, text: str) -> None:
        await self.context.send_message(text)

    async def aclose(self) -> None:
        return None


class ClientActions(_Chat):
    backend = "client"

    async def mute(self, uuid: str) -> None:
        await self.context.mute(uuid)

    async def disconnect(self, uuid: str) -> None:
        await self.context.disconnect(uuid)

    async def admit(self, uuid: str) -> None:
        await self.context.admit(uuid)

    async def lock(self) -> None:
        await self.context.lock()

    async def spotlight(self, uuid: str, on: bool) -> None:
        await self.context.spotlight(uuid, on)

    async def set_guests_can_unmute(self, allowed: bool) -> None:
        await self.context.set_guests_can_unmute(allowed)


class ManagementActions(_Chat):
    backend = "management"

    def __init__(self, context: PluginContext, client: ManagementClient) -> None:
        super().__init__(context)
        self.client = client
        self._conference_id: str | None = None

    @staticmethod
    def participant_id(uuid: str) -> str:
        """The management participant id of a client-API uuid: the same (see above)."""
        return uuid

    async def _conference(self) -> str:
        if self._conference_id is None:
            name = self.context.conference_name
            if not name:
                raise RuntimeError("the bot is not in a conference yet")
            found = await self.client.status.conferences(name=name).all()
            if not found:
                raise RuntimeError(f"conference {name!r} not found in the management API")
            self._conference_id = found[0].id
        return self._conference_id

    async def mute(self, uuid: str) -> None:
        await self.client.command.mute(self.participant_id(uuid))

    async def disconnect(self, uuid: str) -> None:
        await self.client.command.disconnect_participant(self.participant_id(uuid))

    async def admit(self, uuid: str) -> None:
        await self.client.command.unlock_participant(self.participant_id(uuid))

    async def lock(self) -> None:
        await self.client.command.lock(await self._conference())

    async def spotlight(self, uuid: str, on: bool) -> None:
        raise UnsupportedActionError("the management API has no spotlight command")

    async def set_guests_can_unmute(self, allowed: bool) -> None:
        raise UnsupportedActionError("the management API has no guests-can-unmute command")

    async def aclose(self) -> None:
        await self.client.aclose()
