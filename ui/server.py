"""The web server around the Gradio app: who may talk to it, and the one route that serves documents.

* ``HostGuard`` answers only requests addressed to the names the app is served as (127.0.0.1,
  localhost, ::1, the configured ``--host``; with the port) and coming from a page of one of
  them (``Origin``). A page on another site that points its own name at 127.0.0.1 (DNS
  rebinding) or posts to the port from the user's browser gets 403 before Gradio sees it.
* ``document_route`` serves a search result's source: ``documents/<collection>/<chunk id>``;
  the lookup, every check and the headers are search.application.documents'. Gradio's own file
  route no longer serves documents (ui.app.launch_options: only the Evaluate tab's charts).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from search.application.documents import DOCUMENT_ROUTE, SECURITY_HEADERS, DocumentNotFoundError
from search.application.search_app import SearchApp
from search.core.errors import AppError, NotAllowedError, user_message

log = logging.getLogger("ui")

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def _host_header(host: str, port: int) -> str:
    name = host.strip().lower().rstrip(".")
    if ":" in name and not name.startswith("["):  # an IPv6 literal
        name = f"[{name}]"
    return f"{name}:{port}"


def served_names(host: str, port: int) -> frozenset[str]:
    """The ``Host`` values this server answers: loopback names and the bind address, with the port.

    Bound to every interface (0.0.0.0, ::), it also answers as this machine's name and its
    interface addresses: what another machine on the network can type. Never any other name,
    which is what a DNS-rebinding page would send.
    """
    names = [*LOOPBACK_NAMES, host]
    if host.strip() in WILDCARD_HOSTS:
        names += _machine_names()
    return frozenset(_host_header(name, port) for name in names if name.strip() not in WILDCARD_HOSTS)


def _machine_names() -> list[str]:
    names = [socket.gethostname(), socket.getfqdn()]
    try:
        import psutil

        for addresses in psutil.net_if_addrs().values():
            for address in addresses:
                if address.family in (socket.AF_INET, socket.AF_INET6):
                    names.append(address.address.split("%")[0])
    except Exception:  # noqa: BLE001 - without psutil: the host names only
        pass
    return [name for name in names if name and _plausible(name)]


def _plausible(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return all(part.isalnum() or "-" in part for part in name.split(".") if part)
    return True


class HostGuard:
    """ASGI middleware: 403 for a ``Host`` the app is not served as, or an ``Origin`` of another site."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(name.lower() for name in allowed)
        self.origins = frozenset(f"http://{name}" for name in self.allowed) | frozenset(
            f"https://{name}" for name in self.allowed
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        host = headers.get("host", "").strip().lower()
        origin = headers.get("origin")
        if host not in self.allowed or (origin is not None and origin.strip().lower() not in self.origins):
            what = "origin" if host in self.allowed else "host name"
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            response = PlainTextResponse(
                f"Refused: this server answers only requests to and from {sorted(self.allowed)[0]} "
                f"(and the other names it is served as); this request's {what} is another.\n",
                status_code=403,
                headers={"X-Content-Type-Options": "nosniff"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def document_route(app: SearchApp, roots: Callable[[], Sequence[Path]]) -> Route:
    """``GET documents/<collection>/<chunk id>``: the result's source, checked, with safe headers."""

    def serve_document(request: Request) -> Response:
        collection = str(request.path_params.get("collection", ""))
        chunk_id = str(request.path_params.get("chunk_id", ""))
        try:
            document = app.open_document(collection, chunk_id, roots())
        except DocumentNotFoundError as exc:
            return _refusal(404, str(exc))
        except NotAllowedError as exc:
            return _refusal(403, str(exc))
        except AppError as exc:  # changed since it was indexed
            return _refusal(409, user_message(exc) or "This document cannot be opened.")
        except Exception:  # a bug: logged, and the browser learns nothing about the server
            log.exception("serving a document failed")
            return _refusal(500, "This document cannot be opened; the details are in the server log.")
        if request.method == "HEAD":
            document.close()
            return Response(headers=document.headers)
        return StreamingResponse(document.chunks(), headers=document.headers)

    return Route(f"/{DOCUMENT_ROUTE}/{{collection}}/{{chunk_id}}", serve_document, methods=["GET", "HEAD"])


def _refusal(status: int, text: str) -> Response:
    return PlainTextResponse(text + "\n", status_code=status, headers=dict(SECURITY_HEADERS))


class PortInUseError(AppError, OSError):
    """The port asked for is taken (another server, perhaps another ``app.py serve``)."""


def check_port(host: str, port: int) -> None:
    """PortInUseError naming ``--port`` and a free port, before the server tries to bind it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will (TIME_WAIT is free)
        try:
            probe.bind((host or "0.0.0.0", port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:  # anything else is the server's to report
                return
            raise PortInUseError(
                f"port {port} is in use (another app.py serve?): choose another with --port {_free_port(host)}"
            ) from None


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host or "0.0.0.0", 0))
        return int(probe.getsockname()[1])
