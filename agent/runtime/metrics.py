"""Prometheus metrics of the bots in this process, served on `/metrics`.

Values are read from the bots when Prometheus scrapes (a custom collector), so the hot paths
only bump plain integers. Each run or fleet has its own registry: no global state.

Every series is labelled `bot` with the bot's id, unique in the process (in a fleet
`<index>:<display name>`): display names may repeat, and two series with the same labels
are rejected by Prometheus. `pexbot_bot_info` maps each id to its display name and alias.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .._http_server import HttpServer
from .bot import Bot
from .counters import PluginCounters
from .listen import ListenError
from .states import BotState

log = logging.getLogger(__name__)


class BotCollector(Collector):
    def __init__(self, bots: Callable[[], Iterable[Bot]]) -> None:
        self._bots = bots

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "pexbot_bot_info", "Display name and alias of each bot", labels=["bot", "name", "alias"]
        )
        state = GaugeMetricFamily(
            "pexbot_bot_state", "1 for the state the bot is in", labels=["bot", "state"]
        )
        rejoins = CounterMetricFamily(
            "pexbot_rejoins", "Rejoins after a lost token", labels=["bot"]
        )
        reconnects = CounterMetricFamily(
            "pexbot_event_stream_reconnects", "Event stream reconnects", labels=["bot"]
        )
        recalls = CounterMetricFamily(
            "pexbot_recalls", "Calls re-placed after media loss", labels=["bot"]
        )
        events = CounterMetricFamily("pexbot_events", "Event stream items received", labels=["bot"])
        packets = CounterMetricFamily(
            "pexbot_media_frames", "Encoded media frames received", labels=["bot", "kind"]
        )
        participants = GaugeMetricFamily(
            "pexbot_participants", "Other participants in the conference", labels=["bot"]
        )
        errors = CounterMetricFamily(
            "pexbot_plugin_errors", "Exceptions raised by plugins", labels=["bot", "plugin"]
        )
        drops = CounterMetricFamily(
            "pexbot_plugin_drops",
            "Items dropped for slow plugins",
            labels=["bot", "plugin", "kind"],
        )
        transitions = CounterMetricFamily(
            "pexbot_state_transitions",
            "Lifecycle transitions into each state",
            labels=["bot", "state"],
        )
        retries = CounterMetricFamily(
            "pexbot_request_retries",
            "Requests to the node retried after a transient failure",
            labels=["bot", "cause"],
        )
        exhausted = CounterMetricFamily(
            "pexbot_request_retries_exhausted",
            "Requests that failed transiently with the retry budget spent",
            labels=["bot"],
        )
        plugin_values = GaugeMetricFamily(
            "pexbot_plugin_value",
            "Counters plugins keep in context.metrics",
            labels=["bot", "plugin", "name"],
        )
        # `context.count()` series: one family per counter name, over every bot and plugin.
        counted: dict[str, tuple[tuple[str, ...], CounterMetricFamily]] = {}
        for bot in self._bots():
            name = bot.id
            info.add_metric([name, bot.config.display_name, bot.config.alias], 1.0)
            entered = Counter(change.new for change in bot.state.history)
            for s in BotState:
                transitions.add_metric([name, s.value], entered.get(s, 0))
            for p in bot.plugins.plugins:
                if p.has_context:
                    for key, value in p.context.metrics.items():
                        plugin_values.add_metric([name, p.label, str(key)], float(value))
                    _add_counters(counted, name, p.label, p.context.counters)
            for s in BotState:
                state.add_metric([name, s.value], 1.0 if bot.state.state == s else 0.0)
            rejoins.add_metric([name], bot.rejoins)
            retried = bot.api.retry_stats
            for cause, count in sorted(retried.retries.items()):
                retries.add_metric([name, cause], count)
            exhausted.add_metric([name], retried.exhausted)
            reconnects.add_metric([name], bot.stream_reconnects)
            events.add_metric([name], bot.events_seen)
            participants.add_metric([name], len(bot.others()))
            call = bot.call
            recalls.add_metric([name], bot.recalls + (call.recalls if call is not None else 0))
            if call is not None and call.peer is not None:
                for kind, tap in call.peer.taps.items():
                    packets.add_metric([name, kind], tap.frames)
            for plugin, stats in bot.plugins.stats().items():
                errors.add_metric([name, plugin], stats.errors)
                drops.add_metric([name, plugin, "media"], stats.dropped_media)
                drops.add_metric([name, plugin, "events"], stats.dropped_events)
        yield from (info, state, transitions, rejoins, reconnects, recalls, events, packets)
        yield from (participants, errors, drops, plugin_values, retries, exhausted)
        yield from (family for _, family in counted.values())


def _add_counters(
    counted: dict[str, tuple[tuple[str, ...], CounterMetricFamily]],
    bot: str,
    plugin: str,
    counters: PluginCounters,
) -> None:
    for counter, family in counters.families():
        metric = f"pexbot_plugin_{counter}"
        labels = ("bot", "plugin", *family.labels)
        known = counted.get(metric)
        if known is None:
            help_text = f"Counted by plugins: {counter}"
            known = counted[metric] = (
                labels,
                CounterMetricFamily(metric, help_text, labels=labels),
            )
        elif known[0] != labels:
            # Two plugins use one name with different labels: Prometheus would refuse the
            # family, so the later one is left out (and said once per scrape, at debug).
            log.debug(
                "counter %s of plugin %s: labels differ from another plugin's", metric, plugin
            )
            continue
        for values, value in family.values.items():
            known[1].add_metric([bot, plugin, *values], value)


def registry_for(bots: Callable[[], Iterable[Bot]]) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(BotCollector(bots))
    return registry


class MetricsServer(HttpServer):
    """`GET /metrics` on host:port (port 0 picks a free one; see `url`)."""

    kind = "metrics server"

    def __init__(self, registry: CollectorRegistry, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self._registry = registry

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})

    @property
    def url(self) -> str:
        return f"{self.base_url}/metrics"

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        return app

    async def start(self) -> None:
        try:
            await super().start()
        except OSError as exc:
            raise ListenError(self.host, self.port, exc) from None
