"""Each cloud request's cost, computed by the history writer when it records the request
(app/services/observability/history.py) and stored in its row: cached tokens and Anthropic's cache writes
each priced once at their own rate, an unknown model unpriced (never $0), and later price changes leaving
recorded costs as they were.

Prices (cloud_prices.json, USD per 1M tokens): anthropic claude-sonnet-4-5 input 3, cached 0.30, cache
write 3.75, output 15; openai gpt-4o-mini input 0.15, cached 0.075, output 0.60.
"""

from __future__ import annotations

import json
from decimal import Decimal

from app.database import RequestRecord, utcnow
from app.extensions import db
from app.services.observability.history import Entry, HistoryWriter


def entry(number: int, model: str, node: str, status: int = 200, **fields) -> Entry:
    return Entry(id=f"{number:032x}", at=utcnow(), endpoint="/v1/chat/completions", status=status, model=model,
                 node=node, **fields)


def answer(usage: dict) -> bytes:
    return json.dumps({"object": "chat.completion", "choices": [], "usage": usage}).encode()


def stream(usage: dict) -> bytes:
    chunks = [{"choices": [{"delta": {"content": "Hi"}, "finish_reason": "stop"}]}, {"choices": [], "usage": usage}]
    return b"".join(b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks) + b"data: [DONE]\n\n"


def recorded(app, writer: HistoryWriter) -> dict[str, tuple]:
    assert writer.flush()
    with app.app_context():
        return {row.id.lstrip("0"): (row.cost_usd, row.unpriced, row.cached_tokens)
                for row in db.session.query(RequestRecord)}


# Anthropic: 1,000 uncached + 2,000 read from the cache + 500 written to it = 3,500 prompt tokens, 300 out.
ANTHROPIC_USAGE = {"prompt_tokens": 3500, "completion_tokens": 300, "total_tokens": 3800,
                   "prompt_tokens_details": {"cached_tokens": 2000, "cache_creation_tokens": 500}}
# (1,000 x 3 + 2,000 x 0.30 + 500 x 3.75 + 300 x 15) / 1M = (3,000 + 600 + 1,875 + 4,500) / 1M
ANTHROPIC_COST = Decimal("0.0099750000")
# OpenAI, streamed: 1,000 prompt tokens of which 400 cached, 100 out: (600 x 0.15 + 400 x 0.075 + 100 x 0.60) / 1M
OPENAI_USAGE = {"prompt_tokens": 1000, "completion_tokens": 100, "prompt_tokens_details": {"cached_tokens": 400}}
OPENAI_COST = Decimal("0.0001800000")


def test_a_cloud_request_is_costed_with_its_cache_reads_and_writes_priced_once(app):
    writer = HistoryWriter(app, 4096, lambda count: None)
    writer.add(entry(1, "anthropic:claude-sonnet-4-5", "anthropic", answer_raw=answer(ANTHROPIC_USAGE)))
    writer.add(entry(2, "openai:gpt-4o-mini", "openai", stream=True, relayed=stream(OPENAI_USAGE)))
    rows = recorded(app, writer)
    assert rows["1"] == (ANTHROPIC_COST, False, 2000)
    assert rows["2"] == (OPENAI_COST, False, 400)


def test_an_unknown_model_or_a_stream_without_usage_is_unpriced_never_free(app):
    writer = HistoryWriter(app, 4096, lambda count: None)
    writer.add(entry(1, "openai:gpt-unknown", "openai", answer_raw=answer(OPENAI_USAGE)))
    writer.add(entry(2, "openai:gpt-4o-mini", "openai", stream=True,
                     relayed=b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n'))  # cut before its usage
    rows = recorded(app, writer)
    assert rows["1"] == (None, True, 400)
    assert rows["2"] == (None, True, None)


def test_local_and_failed_requests_have_no_cost(app):
    writer = HistoryWriter(app, 4096, lambda count: None)
    writer.add(entry(1, "qwen3-0.6b", "box", answer_raw=answer(OPENAI_USAGE)))  # a local node's answer
    writer.add(entry(2, "openai:gpt-4o-mini", "openai", status=429, error_code="rate_limit_exceeded",
                     answer_raw=b'{"error": {"message": "slow down"}}'))
    writer.add(entry(3, "openai:gpt-4o-mini", "box", answer_raw=answer(OPENAI_USAGE)))  # not the provider's answer
    rows = recorded(app, writer)
    assert rows == {"1": (None, False, 400), "2": (None, False, None), "3": (None, False, 400)}


def test_a_price_change_costs_later_requests_and_never_rewrites_recorded_ones(app):
    writer = HistoryWriter(app, 4096, lambda count: None)
    prices = app.extensions["prices"]
    override = {"provider": "openai", "model": "gpt-unknown", "input": "1", "cached_input": "0.5",
                "cache_write": None, "output": "2", "as_of": "2026-12-03", "source": "https://example.com/prices"}
    prices.use_overrides([override])
    writer.add(entry(1, "openai:gpt-unknown", "openai", answer_raw=answer(OPENAI_USAGE)))
    assert recorded(app, writer)["1"] == (Decimal("0.0010000000"), False, 400)  # (600 x 1 + 400 x 0.5 + 100 x 2) / 1M
    prices.use_overrides([{**override, "input": "10"}])
    writer.add(entry(2, "openai:gpt-unknown", "openai", answer_raw=answer(OPENAI_USAGE)))
    rows = recorded(app, writer)
    assert rows["1"] == (Decimal("0.0010000000"), False, 400)
    assert rows["2"] == (Decimal("0.0064000000"), False, 400)  # (600 x 10 + 400 x 0.5 + 100 x 2) / 1M
