"""A local fake of an OpenAI-compatible chat-completions endpoint (real aiohttp on 127.0.0.1) for LLM tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

Mode = Literal["ok", "slow", "http_error", "not_json", "invalid_json", "refusal", "raw"]


@dataclass
class FakeLLM:
    """What the endpoint answers (`mode`, `answer`) and what it was asked (`requests`)."""

    mode: Mode = "ok"
    answer: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]] = field(
        default_factory=dict
    )
    raw: str = ""
    status: int = 500
    delay_s: float = 5.0
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "body": body})
        if self.mode == "slow":
            await asyncio.sleep(self.delay_s)
        if self.mode == "http_error":
            return web.json_response(
                {"error": {"message": "upstream exploded"}}, status=self.status
            )
        if self.mode == "not_json":
            return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")
        message: dict[str, Any] = {"role": "assistant"}
        if self.mode == "refusal":
            message |= {"content": None, "refusal": "I can't help with that."}
        elif self.mode == "invalid_json":
            message["content"] = '{"diagnosis": "cut off'
        elif self.mode == "raw":
            message["content"] = self.raw
        else:
            answer = self.answer(body) if callable(self.answer) else self.answer
            message["content"] = json.dumps(answer)
        return web.json_response(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
        )


@asynccontextmanager
async def serve_fake_llm(fake: FakeLLM) -> AsyncIterator[str]:
    """Run the fake on a free port of 127.0.0.1; yields its base URL (…/v1)."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)  # a slow handler must not hold up teardown
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # a TCP site's server has sockets
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        await runner.cleanup()
