"""bluesky-httpserver as ``acq queue`` runs it: ``python -m acq.queue_server.http_server``
with the arguments of ``start-bluesky-httpserver``, refusing request bodies that are not JSON,
and the API key kept out of its log.

- A body with ``NaN`` or ``Infinity`` (which JSON does not have, but Python's decoder reads)
  is refused with 400 and one line saying so. Passed on, the RE Manager refuses the item
  (`acq.queue_server.re_manager`) but the HTTP server then fails to write the refusal, which
  echoes the item, as JSON: the client would get a bare 500.
- At start-up ``bluesky_httpserver.server`` logs "APP settings: …" at INFO: every setting,
  the single-user API key included, in plain text. That logger is raised to WARNING (the
  server's other loggers keep INFO).
- uvicorn's access log prints each request's path with its query: a client that passes the
  key as ``?api_key=`` would leave it in the log. The value is masked.

The server has no option for any of these (``start_server`` builds its app and sets its
loggers itself), hence this wrapper around its own entry point.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bluesky_httpserver import server

from .finite import non_finite_values, refusal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Logger whose INFO start-up line holds every setting, the API key included.
SETTINGS_LOGGER = "bluesky_httpserver.server"
#: ``api_key=<value>`` in a query string.
API_KEY_IN_QUERY = re.compile(r"(api_key=)[^&\s]+", re.IGNORECASE)


class MaskApiKeyInQuery(logging.Filter):
    """Replace the value of ``api_key=`` in a log record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = API_KEY_IN_QUERY.sub(r"\1***", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                API_KEY_IN_QUERY.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


class RefuseNonFiniteJson:
    """ASGI middleware: a JSON request body with ``NaN``, ``Infinity`` or a number beyond a
    float's range (decoded as inf) gets 400 naming where; any other request passes unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        messages = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        try:
            problems = list(non_finite_values(json.loads(body), "")) if body else []
        except ValueError:  # not JSON: the server answers that itself
            problems = []
        if problems:
            detail = json.dumps({"detail": refusal(problems)}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 400,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": detail})
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


_build_app = server.build_app


def build_app(*args: Any, **kwargs: Any) -> Any:
    """bluesky-httpserver's app with `RefuseNonFiniteJson` in front."""
    app = _build_app(*args, **kwargs)
    app.add_middleware(RefuseNonFiniteJson)
    return app


def main() -> None:
    """Start bluesky-httpserver refusing non-finite numbers, the API key out of its log."""
    server.build_app = build_app  # what `start_server` calls
    logging.getLogger(SETTINGS_LOGGER).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").addFilter(MaskApiKeyInQuery())
    server.start_server()


if __name__ == "__main__":
    main()
