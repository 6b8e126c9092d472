# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small HTTP/1.1 server on asyncio streams: Content-Length bodies, keep-alive, one listener per device."""

import asyncio
import contextlib
import json
import logging

LOG = logging.getLogger("whatwatt_emulator.http")

MAX_HEADER = 16384
MAX_BODY = 8192  # the device's documented request body limit
IDLE_TIMEOUT = 30.0
REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
    405: "Method Not Allowed", 411: "Length Required", 500: "Internal Server Error", 503: "Service Unavailable",
}  # fmt: skip


class Request:
    def __init__(self, method, target, version, headers, body):
        self.method = method
        self.target = target
        self.path = target.split("?", 1)[0]
        self.version = version
        self.headers = headers
        self.body = body

    def json(self):
        """Decoded JSON body; ValueError when it is not JSON."""
        return json.loads(self.body.decode("utf-8"))


class Response:
    def __init__(self, status=200, body=None, headers=None, raw=None):
        self.status = status
        self.headers = dict(headers or {})
        if raw is not None:
            self.payload = raw
        elif body is None:
            self.payload = b""
        else:
            self.payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        if self.payload or status not in (204,):
            self.headers.setdefault("Content-Type", "application/json; charset=utf-8")


DROP = object()  # handler result: close the connection without answering


def error(status, key, message, **details):
    return Response(status, {"error": key, "message": message, "details": details})


class _BadRequest(Exception):
    pass


async def _read_request(reader, max_body=MAX_BODY):
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT)
    except asyncio.LimitOverrunError as err:
        raise _BadRequest("header too large") from err
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ")
    except ValueError as err:
        raise _BadRequest("bad request line") from err
    headers = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest("bad header")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Request(method, target, version, headers, None), "chunked"
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError as err:
        raise _BadRequest("bad content-length") from err
    if length > max_body:
        # Read (and drop) a moderately large body so the client sees the 400 rather than a reset.
        if length <= 1024 * 1024:
            await asyncio.wait_for(reader.readexactly(length), IDLE_TIMEOUT)
        return Request(method, target, version, headers, None), "too_large"
    body = await asyncio.wait_for(reader.readexactly(length), IDLE_TIMEOUT) if length else b""
    return Request(method, target, version, headers, body), None


def _encode(response, keep_alive):
    head = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Status')}"]
    headers = dict(response.headers)
    if response.status != 204:
        headers["Content-Length"] = str(len(response.payload))
    headers["Connection"] = "keep-alive" if keep_alive else "close"
    head.extend("{}: {}".format(*item) for item in headers.items())
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + (response.payload if response.status != 204 else b"")


async def serve_connection(handler, reader, writer, max_body=MAX_BODY):
    """Answer requests on one connection until the client or the handler closes it (bodies up to ``max_body``)."""
    try:
        while True:
            try:
                request, problem = await _read_request(reader, max_body)
            except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                return
            except _BadRequest as err:
                writer.write(_encode(error(400, "bad_request", str(err)), False))
                await writer.drain()
                return
            if problem == "too_large":
                response = error(400, "body_too_large", f"request body exceeds {max_body} bytes", max=max_body)
                writer.write(_encode(response, False))
                await writer.drain()
                return
            if problem == "chunked":
                writer.write(_encode(error(411, "length_required", "send a Content-Length"), False))
                await writer.drain()
                return
            keep_alive = request.headers.get("connection", "").lower() != "close" and (
                request.version == "HTTP/1.1" or request.headers.get("connection", "").lower() == "keep-alive"
            )
            try:
                response = await handler(request)
            except Exception:  # a bug in the emulator must look like the device's 500, not a dead socket
                LOG.exception("handler failed for %s %s", request.method, request.path)
                response = error(500, "internal_error", "internal error")
            if response is DROP:
                return
            writer.write(_encode(response, keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
