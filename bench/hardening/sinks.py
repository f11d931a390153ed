"""Local alert sinks for the fault-injection run: a webhook receiver and a minimal SMTP server that
record what they were sent (threads, loopback only)."""

from __future__ import annotations

import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


class WebhookSink:
    """Accepts JSON POSTs on 127.0.0.1:<port>/hook and keeps (time, body)."""

    def __init__(self) -> None:
        self.received: list[tuple[float, Any]] = []
        lock = threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    value: Any = orjson.loads(body)
                except orjson.JSONDecodeError:
                    value = {"undecodable": body[:200].decode("utf-8", "replace")}
                with lock:
                    received.append((time.time(), value))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, name="webhook-sink", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """Just enough SMTP (HELO/EHLO, MAIL, RCPT, DATA, QUIT) to accept alert e-mails and count them."""

    def __init__(self) -> None:
        self.messages: list[tuple[float, str]] = []  # (time, message text)
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                self.wfile.write(b"220 sink ESMTP\r\n")
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    verb = line[:4].upper()
                    if verb == b"DATA":
                        self.wfile.write(b"354 end with .\r\n")
                        lines = []
                        while (data := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                            lines.append(data)
                        sink.messages.append((time.time(), b"".join(lines).decode("utf-8", "replace")))
                        self.wfile.write(b"250 queued\r\n")
                    elif verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    elif verb == b"EHLO":
                        self.wfile.write(b"250 sink\r\n")
                    else:
                        self.wfile.write(b"250 ok\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, name="smtp-sink", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
