"""The websocket side: Bybit's public linear stream and private account stream.

Requests are Bybit's `{"op": ..., "args": [...], "req_id": ...}`; replies copy Bybit's shapes
(the public pong is `{"success": true, "ret_msg": "pong", "op": "ping"}`, the private one
`{"op": "pong", "args": [ms]}`). The private stream serves only a connection that sent
`op: auth` with the configured api key and an `expires` still in the future; the signature is
not checked.

Two faults live here, since only the streams can do them: `drop` closes every connection from
the server side (clients may reconnect); `stall` keeps connections open but sends nothing at all
(no data, no replies, no pongs) until it ends. What would have been sent meanwhile is lost, as
it would be behind a stuck socket.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from trading.exchange.simulator.market import now_ms

PRIVATE_TOPICS = frozenset({"order", "execution", "position"})


@dataclass(eq=False)
class Connection:
    ws: web.WebSocketResponse
    private: bool
    conn_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    topics: set[str] = field(default_factory=set)
    authenticated: bool = False


class Streams:
    """Every open websocket connection, their subscriptions and the faults on them."""

    def __init__(
        self,
        *,
        api_key: str,
        public_topics: frozenset[str],
        snapshot: Callable[[str], dict[str, Any] | None],
    ) -> None:
        self.api_key = api_key
        self.public_topics = public_topics
        self.snapshot = snapshot  # the message a new subscriber to a topic gets first, if any
        self.connections: set[Connection] = set()
        self._stalled_until = 0.0

    @property
    def stalled(self) -> bool:
        return time.monotonic() < self._stalled_until

    def stall(self, seconds: float) -> None:
        self._stalled_until = time.monotonic() + seconds

    async def drop(self) -> None:
        await asyncio.gather(
            *(
                conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"dropped by the simulator")
                for conn in list(self.connections)
            ),
            return_exceptions=True,
        )

    def topics(self) -> set[str]:
        """The topics some connection is subscribed to now."""
        return {topic for conn in self.connections for topic in conn.topics}

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        """Send `message` to every connection subscribed to `topic`."""
        listeners = [conn for conn in self.connections if topic in conn.topics]
        if listeners:
            text = json.dumps(message)
            for conn in listeners:
                await self._send_text(conn, text)

    async def serve(self, request: web.Request, *, private: bool) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=2.0)  # at most 2 s for a client's close frame
        await ws.prepare(request)
        conn = Connection(ws, private)
        self.connections.add(conn)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._answer(conn, msg.data)
        finally:
            self.connections.discard(conn)
        return ws

    async def _answer(self, conn: Connection, text: str) -> None:
        try:
            request = json.loads(text)
            op = request.get("op")
        except (ValueError, AttributeError):
            await self._send(conn, {"success": False, "ret_msg": "error:invalid json"})
            return
        req_id = request.get("req_id")
        reply: dict[str, Any] = {"conn_id": conn.conn_id, "op": op}
        if req_id is not None:
            reply["req_id"] = req_id
        if op == "ping":
            if conn.private:
                reply.update(op="pong", args=[str(now_ms())])
            else:
                reply.update(success=True, ret_msg="pong")
            await self._send(conn, reply)
        elif op == "auth" and conn.private:
            await self._send(conn, self._authenticate(conn, request.get("args"), reply))
        elif op in ("subscribe", "unsubscribe"):
            await self._subscribe(conn, op, request.get("args") or [], reply)
        else:
            reply.update(success=False, ret_msg=f"error:invalid op {op}", request=request)
            await self._send(conn, reply)

    def _authenticate(self, conn: Connection, args: Any, reply: dict[str, Any]) -> dict[str, Any]:
        key, expires = [*args, None, None][:2] if isinstance(args, list) else (None, None)
        if key != self.api_key:
            problem = "error:USVC1111"  # Bybit's answer to an unknown key
        elif not str(expires).isdigit() or int(str(expires)) < now_ms():
            problem = "error:request expired"
        else:
            conn.authenticated = True
            return {**reply, "success": True, "ret_msg": ""}
        return {**reply, "success": False, "ret_msg": problem, "request": {"op": "auth"}}

    async def _subscribe(
        self, conn: Connection, op: str, topics: list[Any], reply: dict[str, Any]
    ) -> None:
        allowed = PRIVATE_TOPICS if conn.private else self.public_topics
        unknown = [topic for topic in topics if topic not in allowed]
        new = [topic for topic in topics if topic not in conn.topics]
        if conn.private and not conn.authenticated:
            reply.update(success=False, ret_msg="Request not authorized")
        elif unknown:
            reply.update(success=False, ret_msg=f"error:handler not found,topic:{unknown[0]}")
        else:
            reply.update(success=True, ret_msg="")
            if op == "subscribe":
                conn.topics.update(topics)
            else:
                conn.topics.difference_update(topics)
        await self._send(conn, reply)
        if op == "subscribe" and reply["success"]:
            for topic in new:
                first = self.snapshot(topic)
                if first is not None:
                    await self._send(conn, first)

    async def _send(self, conn: Connection, message: dict[str, Any]) -> None:
        await self._send_text(conn, json.dumps(message))

    async def _send_text(self, conn: Connection, text: str) -> None:
        if self.stalled or conn.ws.closed:
            return
        try:
            await conn.ws.send_str(text)
        except (ConnectionError, RuntimeError):  # the client went away meanwhile
            self.connections.discard(conn)
