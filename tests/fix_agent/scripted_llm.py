"""A local server speaking the chat-completions API with scripted answers (tool calls included)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response


def tool_call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


@dataclass
class ScriptedModel:
    """Each turn answers with the next list of tool calls (or plain text when a turn is a string)."""

    turns: list[list[dict[str, Any]] | str]
    tokens_per_turn: int = 500
    requests: list[dict[str, Any]] = field(default_factory=list)

    def install(self, server: HTTPServer) -> str:
        server.expect_request("/v1/chat/completions", method="POST").respond_with_handler(self._answer)
        return server.url_for("/v1")

    def _answer(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        self.requests.append(body)
        turn = self.turns[min(len(self.requests) - 1, len(self.turns) - 1)]
        if isinstance(turn, str):
            message: dict[str, Any] = {"role": "assistant", "content": turn}
            finish = "stop"
        else:
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{len(self.requests)}_{i}", "type": "function",
                 "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])}}
                for i, call in enumerate(turn)]}
            finish = "tool_calls"
        payload = {"id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": int(time.time()),
                   "model": body["model"], "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                   "usage": {"prompt_tokens": self.tokens_per_turn - 50, "completion_tokens": 50,
                             "total_tokens": self.tokens_per_turn}}
        return Response(json.dumps(payload), content_type="application/json")

    def tool_results(self, request_index: int) -> list[str]:
        return [m["content"] for m in self.requests[request_index]["messages"] if m["role"] == "tool"]
