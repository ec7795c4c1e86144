"""Live push on the dashboard: whether a page connects to it, and where.

Live push needs a channel layer that crosses processes (Redis, with REDIS_URL): the bot publishes
what changed to it (trading/runtime/publish.py), and the websocket consumer
(dashboard/consumers.py) renders the page's partials again and sends them for htmx's ws extension
to swap in. Without it every page polls, as it always has. A context that holds `live_url`, the
socket a page opens, also tells its template which of the two the page does.
"""

from __future__ import annotations

from urllib.parse import urlencode

from trading.runtime.publish import layer_crosses_processes

SOCKET_PATH = "/ws/live"


def socket_url(show: str, **params: str) -> str:
    """The socket that keeps `show` current, with what it needs to know (empty values left out);
    "" without live push, where the page polls instead."""
    if not layer_crosses_processes():
        return ""
    query = {"show": show, **{name: value for name, value in params.items() if value}}
    return f"{SOCKET_PATH}?{urlencode(query)}"
