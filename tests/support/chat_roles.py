"""One table of chat messages, with what both the router and the node must make of each.

Why shared: the router (app/services/inference/openai_requests.py) and the node
(node_agent/chat_roles.py) each keep their own copy of the role rule (they share only
docs/protocol.md). A router test drives every row through `/v1/chat/completions` and a node test
through the node's request parsing; a row one side accepts and the other refuses fails one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

USER = {"role": "user", "content": "What is the weather in Paris?"}
TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}


@dataclass(frozen=True)
class RoleCase:
    """`messages` of a chat request; `engine_roles` the roles the engine's chat template is given, in
    order (None: the request is refused), `param` the field a refusal names."""

    name: str
    messages: list[dict[str, Any]]
    engine_roles: tuple[str, ...] | None
    param: str | None = None

    @property
    def accepted(self) -> bool:
        return self.engine_roles is not None


def _accepted(name: str, messages: list[dict[str, Any]], *roles: str) -> RoleCase:
    return RoleCase(name, messages, roles)


def _refused(name: str, messages: list[dict[str, Any]], param: str) -> RoleCase:
    return RoleCase(name, messages, None, param)


ROLE_CASES: list[RoleCase] = [
    _accepted("user", [USER], "user"),
    _accepted("system", [{"role": "system", "content": "Be brief."}, USER], "system", "user"),
    _accepted("developer is system", [{"role": "developer", "content": "Be brief."}, USER], "system", "user"),
    _accepted("conversation", [USER, {"role": "assistant", "content": "Sunny."}, {"role": "user", "content": "Sure?"}],
              "user", "assistant", "user"),
    _accepted("text parts", [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}], "user"),
    # What OpenAI SDKs echo back from an earlier answer: empty tool-call fields ask for nothing.
    _accepted("empty tool-call fields", [USER, {"role": "assistant", "content": "Sunny.", "tool_calls": None,
                                                "function_call": None}, USER], "user", "assistant", "user"),
    _accepted("empty tool_calls list", [USER, {"role": "assistant", "content": "Sunny.", "tool_calls": []}, USER],
              "user", "assistant", "user"),
    # An earlier answer echoed back with "content": null (as OpenAI's answers may have it): an empty turn.
    _accepted("assistant without content", [USER, {"role": "assistant", "content": None}, USER],
              "user", "assistant", "user"),
    # Tool calling: the models are served without tools, so nothing here can be an answer to a tool call.
    _refused("tool result", [USER, {"role": "tool", "tool_call_id": "call_1", "content": "22 C"}], "messages[1].role"),
    _refused("function result", [USER, {"role": "function", "name": "get_weather", "content": "22 C"}],
             "messages[1].role"),
    _refused("assistant tool call", [USER, {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}],
             "messages[1].tool_calls"),
    _refused("assistant function call", [USER, {"role": "assistant", "content": "",
                                                "function_call": {"name": "get_weather", "arguments": "{}"}}],
             "messages[1].function_call"),
    # Not roles at all.
    _refused("unknown role", [{"role": "robot", "content": "beep"}], "messages[0].role"),
    _refused("roles are lower case", [{"role": "System", "content": "Be brief."}, USER], "messages[0].role"),
    _refused("no role", [USER, {"content": "Hi"}], "messages[1].role"),
    _refused("null role", [{"role": None, "content": "Hi"}], "messages[0].role"),
    _refused("role not a string", [{"role": ["user"], "content": "Hi"}], "messages[0].role"),
]
