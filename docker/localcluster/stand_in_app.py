"""The local cluster's stand-in for students' applications.

kwok runs no containers, so `kubectl port-forward` on the local cluster is pointed (by the
ClusterPortForward in kwokctl.yaml) at this small server instead. It answers every request
with a page saying so, echoing what was asked, which shows the whole path works: browser ->
platform -> API server -> kwok -> here. On a kind cluster the same link reaches the real pod.
"""

from __future__ import annotations

import html
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = 18080


class StandIn(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (
            "<!doctype html><title>Stand-in application</title>"
            "<h1>Hello from the local cluster's stand-in application</h1>"
            f"<p>You asked for <code>{html.escape(self.path)}</code>. On the local cluster pods run no "
            "containers, so port-forward reaches this stand-in; on a kind cluster you would see your real "
            "application here.</p>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "stand-in=1")  # the platform must not pass this on
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: this is a demo server


def serve(port: int = PORT) -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("127.0.0.1", port), StandIn)


if __name__ == "__main__":
    server = serve(int(sys.argv[1]) if len(sys.argv) > 1 else PORT)
    server.serve_forever()
