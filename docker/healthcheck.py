"""The image's HEALTHCHECK: GET $PEXBOT_HEALTH_URL and expect a 2xx answer.

Set PEXBOT_HEALTH_URL to what the container's command serves: the local node
(`http://127.0.0.1:PORT/health`), `pexbot serve`'s API, or a bot's `--metrics-port`
(`http://127.0.0.1:PORT/metrics`). Unset, there is nothing to ask: the container lives and
dies with its `pexbot` process. Standard library only; never goes through a proxy.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    url = os.environ.get("PEXBOT_HEALTH_URL", "")
    if not url:
        return 0
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=4) as reply:
            status = int(reply.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1
    if 200 <= status < 300:
        return 0
    print(f"unhealthy: {url} answered {status}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
