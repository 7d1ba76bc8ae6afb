"""The chat plugin: commands and responders, per sender in order, never stuck, never looping.

A message is checked on the plugin's own queue (cheap: who sent it, limits, loop guard) and
then handled on the sender's worker task: one sender's commands run in the order sent, and a
slow answer (a hanging `http` service) holds up only that sender. Every command and
responder outcome is published (`context.publish`, which the recorder writes to
`timeline.jsonl`) and counted (`pexbot_plugin_chat_commands_total`, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from pydantic import BaseModel

from agent import MessageReceived, ParticipantInfo, Plugin, PluginContext, PluginLoadError

from .commands import CommandError, Commands
from .config import ChatConfig
from .guard import LoopGuard, RateLimiter
from .message import ChatMessage, ResponderError, ResponderTimeout
from .responders import LoadedResponder, ResponderLoadError, load_responder
from .table import COMMANDS
from .text import defuse, split_message

__all__ = ["ChatPlugin"]

log = logging.getLogger(__name__)

#: Messages waiting per sender beyond which more are dropped (the rate limit keeps it short).
SENDER_QUEUE = 32
#: Characters of a reply kept in the timeline.
REPLY_IN_TIMELINE = 200


@dataclass(frozen=True)
class _Incoming:
    text: str
    sender: str  # uuid
    name: str
    is_host: bool
    direct: bool
    command: bool


class ChatPlugin(Plugin[ChatConfig]):
    name: ClassVar[str] = "chat"
    Config: ClassVar[type[BaseModel]] = ChatConfig

    def __init__(
        self,
        context: PluginContext | None = None,
        config: ChatConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(context, config)
        cfg = self.config
        self._clock = clock
        self.responders: list[LoadedResponder] = []
        for i, entry in enumerate(cfg.responders):
            try:
                self.responders.append(load_responder(entry.use, entry.options))
            except ResponderLoadError as exc:
                raise PluginLoadError(f"plugin chat: responders.{i}: {exc}") from None
        self._limiter = RateLimiter(
            cfg.sender_rate.per_second,
            cfg.sender_rate.burst,
            cfg.global_rate.per_second,
            cfg.global_rate.burst,
        )
        g = cfg.loop_guard
        self._guard = LoopGuard(g.window, g.exchanges, g.cooldown)
        self._started = clock()
        self._commands: Commands | None = None
        self._queues: dict[str, asyncio.Queue[_Incoming]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        # Senders being dropped right now (rate limit, loop): published once per streak.
        self._dropping: dict[str, str] = {}

    @property
    def commands(self) -> Commands:
        if self._commands is None:
            self._commands = Commands(
                self.context,
                self.config.prefix,
                self.config.permissions,
                uptime=lambda: self._clock() - self._started,
            )
        return self._commands

    @property
    def message_limit(self) -> int:
        api = self.context.max_message_chars
        own = self.config.max_message_chars
        return min(own, api) if own is not None else api

    async def start(self) -> None:
        self._started = self._clock()

    async def stop(self) -> None:
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for responder in self.responders:
            close = getattr(responder.respond, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    result = close()
                    if inspect.isawaitable(result):
                        await result

    # -- intake (on the plugin's queue: quick) ---------------------------------------------

    async def on_message_received(self, event: MessageReceived) -> None:
        if not event.is_text:
            return  # application messages are for applications
        ctx = self.context
        sender = event.uuid
        if sender and sender == ctx.own_uuid:
            return
        # The chat and the host controls are the main room's, also while a host bot's call
        # is in a breakout room (where `roster` is that room's).
        person: ParticipantInfo | None = ctx.main_roster.get(sender) if sender else None
        name = person.display_name if person is not None else event.origin
        if self._is_bot(name):
            ctx.count("chat_ignored", reason="bot")
            return
        text = event.payload.strip()
        prefix = self.config.prefix
        command = text.startswith(prefix) and len(text) > len(prefix)
        if not command and (
            not self.responders or (self.config.respond_to == "direct" and not event.direct)
        ):
            return
        now = self._clock()
        # Only answers can loop: a reply never starts with the prefix (`defuse`), so it is
        # never another chat bot's command, and commands need no loop guard.
        verdict = "ok" if command else self._guard.check(sender, text, now)
        refusal: str | None = None if verdict == "ok" else verdict
        if refusal is None and not self._limiter.allow(sender, now):
            refusal = "rate_limited"
        if refusal is not None:
            self._dropped(sender, name, refusal)
            return
        self._dropping.pop(sender, None)
        incoming = _Incoming(
            text, sender, name, person is not None and person.is_host, bool(event.direct), command
        )
        self._enqueue(incoming)

    def _is_bot(self, name: str) -> bool:
        folded = name.casefold()
        return any(fnmatch.fnmatchcase(folded, p.casefold()) for p in self.config.ignore)

    def _dropped(self, sender: str, name: str, reason: str) -> None:
        self.context.count("chat_ignored", reason=reason)
        if self._dropping.get(sender) != reason:  # the first of a streak only
            self._dropping[sender] = reason
            self.context.publish("ignored", reason=reason, sender=sender, name=name)
            log.info("chat: not answering %s (%s)", name or sender, reason)

    def _enqueue(self, incoming: _Incoming) -> None:
        queue = self._queues.get(incoming.sender)
        if queue is None:
            queue = self._queues[incoming.sender] = asyncio.Queue(SENDER_QUEUE)
        try:
            queue.put_nowait(incoming)
        except asyncio.QueueFull:
            self._dropped(incoming.sender, incoming.name, "queue_full")
            return
        if incoming.sender not in self._workers:
            task = asyncio.create_task(self._work(incoming.sender), name="chat:sender")
            self._workers[incoming.sender] = task

    async def _work(self, sender: str) -> None:
        """One sender's messages, in order; the task ends when they are done."""
        queue = self._queues[sender]
        try:
            while not queue.empty():
                incoming = queue.get_nowait()
                try:
                    await self._handle(incoming)
                except Exception:
                    log.exception("chat: handling a message failed")
        finally:
            self._workers.pop(sender, None)
            if queue.empty():
                self._queues.pop(sender, None)

    # -- handling (on the sender's worker) -------------------------------------------------

    async def _handle(self, incoming: _Incoming) -> None:
        if incoming.command:
            await self._command(incoming)
        else:
            await self._respond(incoming)

    async def _command(self, incoming: _Incoming) -> None:
        commands = self.commands
        request = commands.parse(incoming.text, incoming.sender, incoming.name, incoming.is_host)
        private = self.config.reply == "private" or incoming.direct
        try:
            reply = await commands.run(request)
            outcome = "done"
        except CommandError as exc:
            reply, outcome = exc.reply, exc.outcome
            private = private or outcome == "refused"
        known = request.word if request.word in COMMANDS else "(unknown)"
        self.context.count("chat_commands", command=known, outcome=outcome)
        self.context.publish(
            "command",
            command=known,
            args=request.rest[:REPLY_IN_TIMELINE] if known != "(unknown)" else None,
            sender=incoming.sender,
            name=incoming.name,
            role="host" if incoming.is_host else "guest",
            outcome=outcome,
            reply=reply[:REPLY_IN_TIMELINE],
        )
        await self._send(incoming, reply, private=private)
        leave = commands.leave_requested
        if leave is not None and outcome == "done":
            self.context.leave(leave)

    async def _respond(self, incoming: _Incoming) -> None:
        ctx = self.context
        message = ChatMessage(
            text=incoming.text,
            sender_uuid=incoming.sender,
            sender_name=incoming.name,
            sender_role="host" if incoming.is_host else "guest",
            direct=incoming.direct,
            alias=ctx.alias,
            conference=ctx.conference_name,
        )
        reply: str | None = None
        used, outcome = "", "no_answer"
        for responder in self.responders:
            used = responder.use
            try:
                async with asyncio.timeout(self.config.responder_timeout):
                    reply = await responder.respond(message)
            except TimeoutError:
                reply = f"sorry, no answer within {self.config.responder_timeout:g} s"
                outcome = "timeout"
            except ResponderTimeout as exc:
                reply, outcome = f"sorry, no answer: {exc}", "timeout"
            except ResponderError as exc:
                reply, outcome = f"sorry, no answer: {exc}", "error"
            except Exception as exc:
                log.exception("chat: responder %s failed", used)
                reply, outcome = f"sorry, no answer ({type(exc).__name__})", "error"
            else:
                outcome = "answered" if reply else "no_answer"
            if reply:
                break
        ctx.count("chat_responses", responder=used or "(none)", outcome=outcome)
        ctx.publish(
            "response",
            responder=used or None,
            sender=incoming.sender,
            name=incoming.name,
            outcome=outcome,
            reply=(reply or "")[:REPLY_IN_TIMELINE] or None,
        )
        if reply:
            private = self.config.reply == "private" or incoming.direct
            await self._send(incoming, reply, private=private)

    async def _send(self, incoming: _Incoming, reply: str, *, private: bool) -> None:
        """The reply, split to the API's message size; never starting with the prefix."""
        prefix = self.config.prefix
        room = len("» ")  # what `defuse` may add
        parts = [
            defuse(part, prefix)
            for part in split_message(reply, self.message_limit - room, self.config.max_parts)
        ]
        ctx = self.context
        try:
            for part in parts:
                if private and incoming.sender:
                    await ctx.send_private_message(incoming.sender, part)
                else:
                    await ctx.send_message(part)
        except Exception as exc:
            ctx.count("chat_replies_failed")
            log.warning("chat: reply to %s failed: %s", incoming.name or incoming.sender, exc)
        finally:
            self._guard.replied(incoming.sender, parts, self._clock())

    @property
    def busy_senders(self) -> int:
        """Senders whose messages are being handled now."""
        return len(self._workers)
