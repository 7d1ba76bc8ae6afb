"""A benchmark's participant at the local node: an aiortc peer joined over the client API
with plain HTTP (no bot runtime), so that what a benchmark measures is the node's."""

from __future__ import annotations

from typing import Any

import aiohttp

from agent.media.ice import IceSettings
from agent.media.pacing import PacedTrack
from agent.media.peer import MediaPeer


class NodeParticipant:
    """`name` joins the conference at `api` sending `sources` (audio first, then video;
    None: nothing of that kind) and receiving without decoding."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        api: str,
        name: str,
        audio: PacedTrack | None = None,
        video: PacedTrack | None = None,
    ) -> None:
        self.http = http
        self.api = api
        self.name = name
        self.token = ""
        self.uuid = ""
        self.call_uuid = ""
        self.sources = [s for s in (audio, video) if s is not None]
        self.peer = MediaPeer(
            IceSettings.loopback(),
            audio_source=audio,
            video_source=video,
            media_timeout=60,
            name=name,
        )

    async def _post(self, path: str, body: Any) -> Any:
        headers = {"token": self.token} if self.token else {}
        async with self.http.post(f"{self.api}/{path}", json=body, headers=headers) as resp:
            data = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"{path}: {resp.status} {data}")
            return data["result"]

    async def join(self, connect_timeout: float = 30.0) -> None:
        result = await self._post("request_token", {"display_name": self.name})
        self.token, self.uuid = result["token"], result["participant_uuid"]
        offer = await self.peer.create_offer()
        call = await self._post(
            f"participants/{self.uuid}/calls", {"call_type": "WEBRTC", "sdp": offer}
        )
        self.call_uuid = call["call_uuid"]
        await self.peer.apply_answer(call["sdp"])
        await self._post(f"participants/{self.uuid}/calls/{self.call_uuid}/ack", {})
        await self.peer.wait_connected(connect_timeout)

    async def leave(self) -> None:
        try:
            await self._post(f"participants/{self.uuid}/disconnect", {})
        finally:
            await self.peer.close()
            for source in self.sources:
                source.stop()
