"""The HTTP server (uvicorn) with the limits a public service needs (``params/serve.yaml`` ``server``).

uvicorn times out an idle keep-alive connection, but not one that trickles its request headers: a client
sending a byte every few seconds holds a connection (and a file) for ever, and 500 such clients exhaust the
process. :class:`HeaderDeadlineProtocol` closes a connection whose request headers are not complete
``header_timeout_s`` after it opened (or after its previous response); ``limit_concurrency`` bounds open
connections (503 beyond); ``h11_max_incomplete_event_size`` bounds the header bytes held.

Behind Cloud Run the Google front end holds the client connections and forwards whole requests, so these
limits guard the container when it is reached directly (``make run``, a VM, a tunnel); they cost nothing there.
Cloud Run's own connection limit is ``--concurrency`` (80 requests per instance, deploy/deploy.sh), below
``max_connections``.

uvicorn answers a request it cannot parse (a bad request line or header line, an incomplete request over
``max_header_bytes``) with a plain-text 400 before the app (and so :class:`~serve.security.SecurityHeaders`)
sees it. Behind Cloud Run it hardly matters: the front end refuses such requests first, and the body is a fixed
plain-text message, nothing a browser would run. Reached directly it was the one answer without the headers,
so :meth:`HeaderDeadlineProtocol.send_400_response` adds them (and ``Cache-Control: no-store``). The 503
uvicorn sends past ``max_connections`` is a fixed text too and stays without them (it is sent from inside
uvicorn's request handling, not replaceable without copying it).
"""
from __future__ import annotations

import asyncio

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from kaizenlap.core import params as kparams

from .security import security_headers, serve_config


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's headers."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if getattr(self, "_header_deadline", None) is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()           # no request line and headers in time: drop it

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:    # the request's headers are complete
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()                       # the next request on this connection has its own deadline

    def send_400_response(self, msg: str) -> None:
        """uvicorn's 400 for a request it cannot parse (its code, its fixed text), with the headers every answer of
        the app carries and ``Cache-Control`` as the app's errors."""
        config = serve_config()
        headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"),
                   (b"cache-control", config["cache"]["errors"].encode()), *security_headers(config)]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                      h11.Data(data=msg.encode("ascii", errors="replace")), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def server_config() -> dict:
    return kparams.load("serve")["server"]


def protocol(header_timeout_s: float) -> type[HeaderDeadlineProtocol]:
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout_s": float(header_timeout_s)})


def config(app, host: str, port: int, log_level: str = "info", **overrides) -> uvicorn.Config:
    """uvicorn's configuration of the service, its limits from ``params/serve.yaml`` (``overrides`` win)."""
    s = {**server_config(), **overrides}
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, http=protocol(s["header_timeout_s"]),
                          timeout_keep_alive=int(s["keep_alive_s"]), limit_concurrency=int(s["max_connections"]),
                          h11_max_incomplete_event_size=int(s["max_header_bytes"]), backlog=int(s["backlog"]))


def run(app, host: str, port: int, log_level: str = "info") -> None:
    uvicorn.Server(config(app, host, port, log_level)).run()
