"""A local HTTP server on 127.0.0.1 that records every request and answers from a route table.

Tests point a real ccxt client at it (`LEVELBOT_<EXCHANGE>_REST_URL`) and play the exchange:
each route is an async function of the recorded request that returns an aiohttp response. A
request no route knows is recorded too, and answered 404, so a test can assert that nothing
unexpected was asked.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: str
    headers: dict[str, str]
    at: float  # time.monotonic() when it arrived

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def params(self) -> dict[str, Any]:
        """Query and body together: a form body's fields, or a JSON body's object (the first
        one of a JSON list, as OKX's batch endpoint takes a single order)."""
        merged: dict[str, Any] = dict(self.query)
        if not self.body:
            return merged
        if self.body.lstrip().startswith(("{", "[")):
            data = self.json()
            merged.update(data[0] if isinstance(data, list) else data)
        else:
            merged.update(parse_qsl(self.body, keep_blank_values=True))
        return merged


Route = Callable[[Recorded], Awaitable[web.StreamResponse]]


class LocalHttp:
    """`async with LocalHttp(routes) as server:` serves on `server.url` until the block ends."""

    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes
        self.requests: list[Recorded] = []
        self.unknown: list[Recorded] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = Recorded(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            body=await request.text(),
            headers=dict(request.headers),
            at=time.monotonic(),
        )
        self.requests.append(recorded)
        route = self.routes.get((request.method, request.path))
        if route is None:
            self.unknown.append(recorded)
            return web.json_response({"error": f"no route for {request.path}"}, status=404)
        return await route(recorded)

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    async def __aenter__(self) -> LocalHttp:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A handler still sleeping (an answer the client gave up on) must not hold the test up.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
