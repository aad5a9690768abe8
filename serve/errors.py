"""The API's error shape, one place: ``{"error": {"code", "message", "detail"}}`` as a route's exception
(:class:`ApiError`), a response, or raw ASGI messages for the fronts that answer before routing."""
from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

from . import models as M


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        self.status, self.code, self.message, self.detail = status, code, message, detail


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def error_response(status: int, code: str, message: str, detail: Any = None, headers=None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "detail": detail}}
    return JSONResponse(body, status_code=status, headers=headers)


ERRORS = {404: {"model": M.ErrorBody, "description": "unknown id"},
          422: {"model": M.ErrorBody, "description": "invalid parameter"},
          414: {"model": M.ErrorBody, "description": "path or query over the limits of params/serve.yaml"},
          503: {"model": M.ErrorBody, "description": "store unreachable or nothing published yet"}}
CACHED = {304: {"description": "not modified (If-None-Match matched the ETag)"}}


def json_error(status: int, code: str, message: str, detail: Any = None) -> tuple[bytes, list]:
    body = json.dumps({"error": {"code": code, "message": message, "detail": detail}}).encode()
    return body, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]


async def send_error(send, status: int, code: str, message: str, detail: Any = None, extra=()) -> None:
    """An error answered by an ASGI front (before routing)."""
    body, headers = json_error(status, code, message, detail)
    await send({"type": "http.response.start", "status": status, "headers": headers + list(extra)})
    await send({"type": "http.response.body", "body": body})
