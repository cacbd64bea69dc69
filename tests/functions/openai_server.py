"""A loopback OpenAI-compatible chat server for tests: answers from a script, records requests."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer: a chat message ``content``, or a ``raw`` body; sent after ``delay`` s,
    ``drip`` s between one byte of the body and the next."""

    content: str | None = None
    raw: bytes | None = None
    status: int = 200
    delay: float = 0.0
    drip: float = 0.0
    usage: dict | None = None  # e.g. {"prompt_tokens": 120, "completion_tokens": 30}, sent as the reply's usage

    def body(self, model: str) -> bytes:
        if self.raw is not None:
            return self.raw
        reply = {
            "id": "chatcmpl-test", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.content}, "finish_reason": "stop"}],
        }
        if self.usage is not None:
            reply["usage"] = self.usage
        return json.dumps(reply).encode()


class ScriptedServer:
    """Serves ``POST /v1/chat/completions`` on 127.0.0.1 (ephemeral port), one scripted reply per request.

    ``requests`` holds each request's parsed JSON body, ``headers`` its headers. Plain strings
    in the script are chat replies. A request past the end of the script gets HTTP 500.

    Example:
        with ScriptedServer(["def f(x):\\n    return x"]) as server:
            ChatClient(server.url, "m").complete([...])
    """

    def __init__(self, script: list[Reply | str]) -> None:
        self.script = [Reply(content=r) if isinstance(r, str) else r for r in script]
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                n = len(outer.requests)
                outer.requests.append(body)
                outer.headers.append(dict(self.headers))
                outer.paths.append(self.path)
                if self.path != "/v1/chat/completions":
                    reply = Reply(raw=b'{"error": "not found"}', status=404)
                elif n < len(outer.script):
                    reply = outer.script[n]
                else:
                    reply = Reply(raw=b'{"error": "script exhausted"}', status=500)
                time.sleep(reply.delay)
                data = reply.body(body.get("model", ""))
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    if reply.drip:
                        for i in range(len(data)):
                            self.wfile.write(data[i : i + 1])
                            self.wfile.flush()
                            time.sleep(reply.drip)
                    else:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # a deliberately slow handler must not hold up shutdown
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    def prompt(self, i: int) -> str:
        """All message contents of request ``i``, joined."""
        return "\n".join(m["content"] for m in self.requests[i]["messages"])
