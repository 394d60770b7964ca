"""Calendar feeds: feed tokens and their rotation, the HTTP server and its guard against slow clients.
The server itself (uvicorn) is imported only by ``dosing serve`` (:mod:`dosing.serve.server`)."""

from .feeds import rotate_feed

__all__ = ["rotate_feed"]
