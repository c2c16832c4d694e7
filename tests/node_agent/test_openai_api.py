"""The node's OpenAI request parsing (`node_agent.openai_api`), here its chat-role rule: every row of the
shared table (tests/support/chat_roles.py) is parsed into the roles the engine sees, or refused naming
the field, exactly as the router treats it (tests/services/inference/test_openai_requests.py runs the
same table through the router). What the parser passes on, the engines' own check
(`engines.common.validate_messages`, run by every chat template) accepts with the same roles."""

from __future__ import annotations

import re

import pytest

from node_agent.engines.chat_template import ChatTemplate
from node_agent.engines.common import validate_messages
from node_agent.openai_api import RequestError, parse_request
from tests.support.chat_roles import ROLE_CASES, RoleCase

CASE_IDS = [case.name for case in ROLE_CASES]


@pytest.mark.parametrize("case", ROLE_CASES, ids=CASE_IDS)
def test_chat_roles_as_the_router_treats_them(case: RoleCase) -> None:
    body = {"model": "acme/tiny", "messages": case.messages}
    if not case.accepted:
        with pytest.raises(RequestError) as refused:
            parse_request("chat", body)
        assert refused.value.param == case.param
        assert case.param in str(refused.value)
        return
    messages = parse_request("chat", body).prompt
    assert isinstance(messages, list)
    assert tuple(message["role"] for message in messages) == case.engine_roles
    assert tuple(message["role"] for message in validate_messages(messages)) == case.engine_roles
    # The plain transcript a model without a template gets: one "role: content" line per message.
    rendered = ChatTemplate(None, "tiny").render(messages, "", "")
    assert tuple(line.split(":", 1)[0] for line in rendered.splitlines()[:-1]) == case.engine_roles


# The engines take plain string content only (the parser joins text parts before them).
PLAIN_TEXT_CASES = [case for case in ROLE_CASES if not any(isinstance(m.get("content"), list) for m in case.messages)]


@pytest.mark.parametrize("case", PLAIN_TEXT_CASES, ids=[case.name for case in PLAIN_TEXT_CASES])
def test_the_engines_own_check_applies_the_same_rule(case: RoleCase) -> None:
    """Engines are also called directly (tests, benches) with raw OpenAI messages: same roles, same refusals."""
    if case.accepted:
        assert tuple(message["role"] for message in validate_messages(case.messages)) == case.engine_roles
    else:
        with pytest.raises(ValueError, match=re.escape(case.param)):
            validate_messages(case.messages)
