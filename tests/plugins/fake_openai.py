"""A small OpenAI-compatible server for the openai plugin's tests (the real API is out of
reach): /v1/chat/completions (plain and `stream: true` SSE) and /v1/embeddings, with a
switch to fail the next N requests with a 500 or 429."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve
from quart import Response, request
from quart_trio import QuartTrio

from conftest import free_port


@dataclass
class FakeOpenAI:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer, in order
    chunks: tuple[str, ...] = ("Hel", "lo ", "there")
    delay: float = 0.0  # seconds each chat completion takes (a slow model)

    def app(self) -> QuartTrio:
        app = QuartTrio(__name__)

        @app.post("/v1/chat/completions")
        async def chat() -> Any:
            body = await request.get_json()
            self.requests.append({"path": "chat", "body": body,
                                  "auth": request.headers.get("Authorization")})
            if self.fail_next:
                status = self.fail_next.pop(0)
                return {"error": {"message": "try again", "type": "server_error"}}, status, {
                    "Retry-After": "0"}
            if self.delay:
                await trio.sleep(self.delay)
            if not body.get("stream"):
                return {"id": "c1", "object": "chat.completion", "choices": [{
                    "index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "".join(self.chunks)}}]}

            async def events() -> AsyncIterator[bytes]:
                for text in self.chunks:
                    delta = {"choices": [{"index": 0, "delta": {"content": text}}]}
                    yield f"data: {json.dumps(delta)}\n\n".encode()
                done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                yield f"data: {json.dumps(done)}\n\n".encode()
                yield b"data: [DONE]\n\n"

            return Response(events(), content_type="text/event-stream")

        @app.post("/v1/embeddings")
        async def embeddings() -> Any:
            body = await request.get_json()
            self.requests.append({"path": "embeddings", "body": body})
            return {"object": "list", "data": [{"index": 0, "embedding": [0.5, -0.25, 1.0]}],
                    "model": body["model"]}

        return app

    async def run(
        self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        port = free_port()
        config = Config()
        config.bind = [f"127.0.0.1:{port}"]
        config.accesslog = None
        config.errorlog = None
        self.url = f"http://127.0.0.1:{port}/v1"
        await serve(self.app(), config, task_status=task_status)
