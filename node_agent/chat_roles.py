"""The chat message roles the node serves, and the role each one becomes for the engines.

Why one module: the HTTP request parser (`openai_api`) and every engine's last check before a chat
template (`engines.common.validate_messages`) must accept the same roles with the same meaning.
The rule (docs/protocol.md, "inference"): `system`, `developer` (OpenAI's newer name for `system`,
rendered as `system`), `user` and `assistant` are served; `tool` and `function` messages, and
messages carrying `tool_calls` or `function_call`, are refused, because the models are served
without tools (chat templates are rendered without a tool list, and the router refuses `tools`),
so there is no tool call for such a message to answer. The router applies the same rule in its own
code (the two share only the protocol); tests/support/chat_roles.py holds both to it.

Import-light on purpose: `engines.common` imports this, and importing the engines package must not
pull in anything heavy.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ENGINE_ROLES", "TOOL_ROLES", "TOOL_FIELDS", "RoleError", "engine_role"]

# Accepted role -> the role a chat template is given.
ENGINE_ROLES: dict[str, str] = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
# Tool calling's roles and an assistant message's tool-call fields: refused (see the module docstring).
TOOL_ROLES = ("tool", "function")
TOOL_FIELDS = ("tool_calls", "function_call")


class RoleError(ValueError):
    """A message the node does not serve; `param` names the field (OpenAI's `param`)."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def engine_role(message: dict[str, Any], index: int) -> str:
    """The role the engine sees for `messages[index]`; RoleError naming the field when it is refused.

    A tool-call field counts only when it holds something: OpenAI SDKs echo an earlier answer back
    with `"tool_calls": null` (or `[]`), which asks for nothing.
    """
    where = f"messages[{index}]"
    role = message.get("role")
    if isinstance(role, str) and role in TOOL_ROLES:
        raise RoleError(f"{where}.role: '{role}' messages are not supported: the models are served without "
                        "tools, so there is no tool call to answer.", f"{where}.role")
    if not isinstance(role, str) or role not in ENGINE_ROLES:
        raise RoleError(f"{where}.role must be one of {', '.join(ENGINE_ROLES)}; got {role!r}.", f"{where}.role")
    for field in TOOL_FIELDS:
        if message.get(field):
            raise RoleError(f"{where}.{field}: tool calls are not supported: the models are served without tools.",
                            f"{where}.{field}")
    return ENGINE_ROLES[role]
