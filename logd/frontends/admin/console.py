"""The web console's files: ``/`` (``static/index.html``) and ``/static/NAME`` -- plain
HTML, JavaScript and CSS committed in this package (no build step, no CDN: the console
works on a machine without internet). Only the files present when the listener starts are
served, by exact name, so no path reaches outside the folder.

The pages call the JSON API under ``/api/`` (``api_*.py``) on the same listener, with the
browser's own credentials (HTTP Basic, asked by the browser on a 401, or its client
certificate).

Ownership: the broker's event loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from aiohttp import web

__all__ = ["STATIC", "add_console_routes"]

STATIC: Final = Path(__file__).with_name("static")
_TYPES: Final = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


def add_console_routes(app: web.Application) -> None:
    files = {
        path.name: (path.read_bytes(), _TYPES.get(path.suffix, "application/octet-stream"))
        for path in STATIC.iterdir()
        if path.is_file() and path.suffix in _TYPES
    }

    def answer(name: str) -> web.Response:
        found = files.get(name)
        if found is None:
            raise web.HTTPNotFound(text="no such file\n")
        body, kind = found
        return web.Response(body=body, content_type=kind,
                            headers={"Cache-Control": "no-cache"})  # fmt: skip

    async def index(request: web.Request) -> web.Response:
        return answer("index.html")

    async def static(request: web.Request) -> web.Response:
        return answer(request.match_info["name"])

    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static)
