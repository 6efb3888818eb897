"""A protocol-level OpenAI-compatible chat-completions server that answers a fixed number of
requests and then goes away (its port refuses connections): an LM endpoint dying mid-run."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def dying_lm(answers_before_dying: int, content: str = '{"recommended_agent":"video_search_agent"}') -> Iterator[dict]:
    """Yields {"url": base URL ending in /v1, "served": count}; after `answers_before_dying`
    chat completions the server closes its socket."""
    state = {"served": 0, "url": ""}
    server: ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            request = json.loads(body or b"{}")
            state["served"] += 1
            payload = json.dumps({
                "id": f"chatcmpl-{state['served']}", "object": "chat.completion", "created": int(time.time()),
                "model": request.get("model", "fake"),
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            }).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            if state["served"] >= answers_before_dying:
                threading.Thread(target=_stop, daemon=True).start()

        def log_message(self, *args: object) -> None:
            pass

    def _stop() -> None:
        server.shutdown()
        server.server_close()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        try:
            _stop()
        except OSError:
            pass
        thread.join(timeout=5)
