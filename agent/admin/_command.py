"""`client.command`: conference control (`POST /api/admin/command/v1/<resource>/<action>/`).

Bodies are sent as JSON (what every maintained client sends; managers also take forms).
A reply is `{status, message, data}` (or `result`); anything but success raises
`CommandError` with the manager's message. Commands are retried only on 429/503 (see
`RetryPolicy`): a repeated `dial` would place a second call.
"""

from __future__ import annotations

from typing import Any, Literal

from ._command_models import CommandReply, DialResult
from ._errors import CommandError, ManagementAuthError, ManagementHTTPError
from ._port import ClientPort

COMMAND = "command/v1/"
Role = Literal["chair", "guest"]


class CommandAPI:
    """Participant, conference and platform commands of the v26 document, plus `send` for
    commands of newer releases."""

    def __init__(self, client: ClientPort) -> None:
        self._client = client

    async def send(self, resource: str, action: str, body: dict[str, Any]) -> CommandReply:
        """Any command: `send("participant", "mute", {"participant_id": ...})`."""
        name = f"{resource}/{action}"
        path = f"{COMMAND}{name}/"
        payload = {k: v for k, v in body.items() if v is not None}
        try:
            response = await self._client.request("POST", path, json_body=payload)
        except ManagementHTTPError as exc:
            if (
                isinstance(exc, ManagementAuthError)
                or exc.status in (404, 429)
                or exc.status >= 500
            ):
                raise
            raise CommandError(name, exc.message, status=exc.status, body=exc.body) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status == 204 or (data is None and not response.body.strip()):
            return CommandReply(status="success")
        if not isinstance(data, dict):
            raise CommandError(name, "the reply is not a JSON object", status=response.status)
        reply = self._client.parse(CommandReply, data, path)
        if not reply.ok:
            raise CommandError(
                name, reply.message or reply.status, status=response.status, body=data
            )
        return reply

    # -- participant -----------------------------------------------------------------------

    async def dial(
        self,
        conference_alias: str,
        destination: str,
        *,
        node: str | None = None,
        system_location: str | None = None,
        protocol: str | None = None,
        role: Role = "guest",
        remote_display_name: str | None = None,
        call_type: str | None = None,
        routing: Literal["manual", "routing_rule"] | None = None,
        **extra: Any,
    ) -> DialResult:
        """Dial out from the conference an alias belongs to. Manual routing needs `node`
        (an IP address) or `system_location`."""
        if routing != "routing_rule" and node is None and system_location is None:
            raise ValueError("dial needs node or system_location (or routing='routing_rule')")
        reply = await self.send(
            "participant",
            "dial",
            {
                "conference_alias": conference_alias,
                "destination": destination,
                "node": node,
                "system_location": system_location,
                "protocol": protocol,
                "role": role,
                "remote_display_name": remote_display_name,
                "call_type": call_type,
                "routing": routing,
                **extra,
            },
        )
        return self._client.parse(DialResult, reply.data, f"{COMMAND}participant/dial/ data")

    async def disconnect_participant(self, participant_id: str) -> None:
        await self.send("participant", "disconnect", {"participant_id": participant_id})

    async def mute(self, participant_id: str) -> None:
        await self.send("participant", "mute", {"participant_id": participant_id})

    async def unmute(self, participant_id: str) -> None:
        await self.send("participant", "unmute", {"participant_id": participant_id})

    async def unlock_participant(self, participant_id: str) -> None:
        """Admit a participant held in the waiting room of a locked conference."""
        await self.send("participant", "unlock", {"participant_id": participant_id})

    admit = unlock_participant

    async def set_role(self, participant_id: str, role: Role) -> None:
        await self.send("participant", "role", {"participant_id": participant_id, "role": role})

    async def transfer(
        self, participant_id: str, conference_alias: str, role: Role = "guest"
    ) -> None:
        """Move a participant to the conference of another alias (no PIN asked)."""
        await self.send(
            "participant",
            "transfer",
            {"participant_id": participant_id, "conference_alias": conference_alias, "role": role},
        )

    # -- conference ------------------------------------------------------------------------

    async def lock(self, conference_id: str) -> None:
        await self.send("conference", "lock", {"conference_id": conference_id})

    async def unlock(self, conference_id: str) -> None:
        await self.send("conference", "unlock", {"conference_id": conference_id})

    async def mute_guests(self, conference_id: str) -> None:
        await self.send("conference", "mute_guests", {"conference_id": conference_id})

    async def unmute_guests(self, conference_id: str) -> None:
        await self.send("conference", "unmute_guests", {"conference_id": conference_id})

    async def disconnect_conference(self, conference_id: str) -> None:
        await self.send("conference", "disconnect", {"conference_id": conference_id})

    async def transform_layout(
        self,
        conference_id: str,
        *,
        layout: str | None = None,
        host_layout: str | None = None,
        guest_layout: str | None = None,
        enable_overlay_text: bool | None = None,
        **extra: Any,
    ) -> None:
        """Change the layout (e.g. `"1:7"`, `"4:0"`, `"ac"`) and in-conference indicators."""
        await self.send(
            "conference",
            "transform_layout",
            {
                "conference_id": conference_id,
                "layout": layout,
                "host_layout": host_layout,
                "guest_layout": guest_layout,
                "enable_overlay_text": enable_overlay_text,
                **extra,
            },
        )

    # -- platform --------------------------------------------------------------------------

    async def start_cloudnode(self, instance_id: str) -> None:
        """Start a dynamic-bursting overflow node (the seed's only start/stop command)."""
        await self.send("platform", "start_cloudnode", {"instance_id": instance_id})
