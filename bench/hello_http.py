"""The baseline of the redirect's P3: a hello-world aiohttp server answering `GET /l/{code}` with
a constant 302 (same headers as the tracker), no lookup, no click: the cost of aiohttp itself."""

from __future__ import annotations

import argparse

from aiohttp import web


async def redirect(request: web.Request) -> web.Response:
    return web.Response(
        status=302,
        headers={"Location": "https://example.com/", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    app = web.Application()
    app.router.add_get("/l/{code}", redirect)
    web.run_app(app, host="127.0.0.1", port=parser.parse_args().port, access_log=None, print=None)


if __name__ == "__main__":
    main()
