"""shop-frontend: the sample storefront of the golden-path demo (standard library only)."""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROUTES = {
    "/": {"page": "home"},
    "/health": {"status": "ok"},
    "/cart": {"items": []},
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 -- the stdlib's name
        body = ROUTES.get(self.path.split("?", 1)[0])
        status = 200 if body is not None else 404
        payload = json.dumps(body if body is not None else {"error": "not found"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 -- the stdlib's name
        sys.stdout.write(f"{self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")
        sys.stdout.flush()


def main() -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1" if os.environ.get("LOCAL") else "0.0.0.0", port), Handler)  # noqa: S104
    print(f"Starting shop-frontend on {server.server_address[0]}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
