"""A small ASGI piece shared by the node gateway and the coordinator service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Message = dict[str, Any]


def replay(body: bytes, receive: Callable[[], Awaitable[Message]]
           ) -> Callable[[], Awaitable[Message]]:
    """A ``receive`` that hands the app a body already read (and size-checked) in one
    piece, then passes on whatever the server sends next (e.g. the disconnect)."""
    delivered = False

    async def again() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return again
