"""A loopback HTTP server speaking the OpenAI chat-completions API, with scripted faults.

For tests and benchmarks that drive the real `openai` client without a network:

    with LoopbackServer(bank_responder(), latency_s=0.2) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
        server.script("pick a door lock", Reply(status=429, headers={"retry-after": "1"}))
        ...
        server.request_count()

Each request is answered by, in order: the first scripted reply whose `match` occurs in the
request's messages (replies are used once, in the order given), then the `responder`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from generators.offline_provider import compose_extraction, compose_questions
from schemas.taxonomy import builtin_taxonomies, load_taxonomy


@dataclass
class Reply:
    """One scripted answer. `status` != 200 sends an OpenAI-style error body with `content`."""

    content: str | None = None
    finish_reason: str = "stop"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0  # on top of the server latency; longer than the client timeout = timeout
    refusal: str | None = None  # the structured-output `refusal` field (content is then null)
    error_code: str | None = None
    drop_connection: bool = False  # close the socket without answering


def json_reply(obj: Any, **kwargs: Any) -> Reply:
    return Reply(content=json.dumps(obj), **kwargs)


Responder = Callable[[dict[str, Any]], Reply]


def message_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages", []))


def first_user_message(body: dict[str, Any]) -> str:
    return next((str(m["content"]) for m in body["messages"] if m["role"] == "user"), "")


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops concurrent connects; each drop costs a 1 s SYN retry.
    request_queue_size = 1024
    daemon_threads = True
    block_on_close = False


@dataclass
class Seen:
    """A request the server received and the status it answered with (None: dropped)."""

    body: dict[str, Any]
    status: int | None


class LoopbackServer:
    """Threaded HTTP/1.1 server on 127.0.0.1 at a free port; use as a context manager."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency_s: float = 0.0,
        api_key: str = "sk-loopback",
        models: set[str] | None = None,
    ) -> None:
        self.responder = responder or (lambda body: json_reply({}))
        self.latency_s = latency_s
        self.api_key = api_key
        self.models = models  # None: any model name is served
        self._lock = threading.Lock()
        self._scripts: list[tuple[str, list[Reply]]] = []
        self._seen: list[Seen] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def script(self, match: str, *replies: Reply) -> None:
        """The next requests whose messages contain `match` get `replies`, one each, in order."""
        with self._lock:
            self._scripts.append((match, list(replies)))

    def reset(self) -> None:
        """Forget scripts and recorded requests (keep the responder and settings)."""
        with self._lock:
            self._scripts.clear()
            self._seen.clear()
            self._max_in_flight = 0

    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def request_count(self) -> int:
        with self._lock:
            return len(self._seen)

    def max_in_flight(self) -> int:
        """The most requests the server was answering at once since the last reset."""
        with self._lock:
            return self._max_in_flight

    def _enter(self, delta: int) -> None:
        with self._lock:
            self._in_flight += delta
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def _choose(self, body: dict[str, Any]) -> Reply:
        text = message_text(body)
        with self._lock:
            for match, replies in self._scripts:
                if replies and match in text:
                    return replies.pop(0)
        return self.responder(body)

    def _record(self, body: dict[str, Any], status: int | None) -> None:
        with self._lock:
            self._seen.append(Seen(body=body, status=status))


def _error_body(message: str, code: str | None, kind: str = "invalid_request_error") -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "code": code}}).encode()


def _completion_body(body: dict[str, Any], reply: Reply) -> bytes:
    content = None if reply.refusal is not None else reply.content
    return json.dumps(
        {
            "id": f"chatcmpl-loopback-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": reply.refusal},
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": len(message_text(body).split()),
                "completion_tokens": len((content or reply.refusal or "").split()),
                "total_tokens": len(message_text(body).split())
                + len((content or reply.refusal or "").split()),
            },
        }
    ).encode()


def _handler_for(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real endpoints do
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._send(404, _error_body(f"no route {self.path}", "not_found"))
                return
            body = json.loads(raw or b"{}")
            if self.headers.get("Authorization") != f"Bearer {server.api_key}":
                server._record(body, 401)
                self._send(401, _error_body("Incorrect API key provided", "invalid_api_key"))
                return
            if server.models is not None and body.get("model") not in server.models:
                server._record(body, 404)
                message = f"The model `{body.get('model')}` does not exist"
                self._send(404, _error_body(message, "model_not_found"))
                return
            reply = server._choose(body)
            server._record(body, None if reply.drop_connection else reply.status)
            server._enter(+1)
            try:
                self._answer(body, reply)
            finally:
                server._enter(-1)

        def _answer(self, body: dict[str, Any], reply: Reply) -> None:
            time.sleep(server.latency_s + reply.delay_s)
            if reply.drop_connection:
                self.close_connection = True
                return
            if reply.status != 200:
                payload = _error_body(reply.content or f"HTTP {reply.status}", reply.error_code)
            else:
                payload = _completion_body(body, reply)
            self._send(reply.status, payload, reply.headers)

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (its timeout): nothing to answer.
                self.close_connection = True

    return Handler


# --- A responder that answers SafetyForge's own prompts correctly, from the offline bank. ---

_SCENARIO = re.compile(r"^Scenario: (.+)$", re.MULTILINE)
_QUESTION = re.compile(r"^Question: (.+)$", re.MULTILINE)
_COUNT = re.compile(r"Write (\d+) distinct questions")
_AVOID = re.compile(r"^\s*- (.+)$", re.MULTILINE)


def bank_responder(seed: int = 0) -> Responder:
    """Answers question and extraction prompts as the offline provider would (valid JSON).

    It reads the rendered prompt, so it checks that what we send carries what a model needs.
    """
    scenarios = {s.name: s for name in builtin_taxonomies() for s in load_taxonomy(name).scenarios}

    def respond(body: dict[str, Any]) -> Reply:
        prompt = first_user_message(body)
        found = _SCENARIO.search(prompt)
        if found is None or found.group(1) not in scenarios:
            return Reply(status=400, content="unknown prompt", error_code="loopback_unknown")
        scenario = scenarios[found.group(1)]
        question = _QUESTION.search(prompt)
        if question is not None:
            record = compose_extraction(scenario.slug, scenario.kind, question.group(1), seed)
            return json_reply(record)
        count = _COUNT.search(prompt)
        if count is None:
            return Reply(status=400, content="unknown prompt", error_code="loopback_unknown")
        avoid = (
            _AVOID.findall(prompt.split("already exist", 1)[1]) if "already exist" in prompt else []
        )
        # The request's seed varies per batch (see ChatRequest.sample): so do the questions.
        batch_seed = body.get("seed", seed)
        return json_reply(
            {"questions": compose_questions(scenario.slug, int(count.group(1)), avoid, batch_seed)}
        )

    return respond


def main(argv: list[str] | None = None) -> None:
    """Serve `bank_responder` until killed, printing the base URL (a stand-in endpoint)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--api-key", default="sk-loopback")
    args = parser.parse_args(argv)
    server = LoopbackServer(bank_responder(), latency_s=args.latency, api_key=args.api_key)
    with server:
        print(server.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
