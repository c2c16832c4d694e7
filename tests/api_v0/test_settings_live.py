"""The settings on the real router (gunicorn, two workers): a change made through one worker is applied by the
other within one dashboard poll cycle, without a restart; and a provider key entered through the settings API
never shows up in a log file, the history, a page or an answer."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.cloud_imitation import CloudImitation, Failure, Reply
from tests.support.router_process import RouterProcess, start_router

KEY = "sk-proj-settings-live-0123456789abcdef-TAIL"
POLL_SECONDS = 10  # the dashboard's poll cycle (LLM_ROUTER_UI_POLL_SECONDS' default)
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@dataclass
class World:
    router: RouterProcess
    openai: CloudImitation
    key: str  # an API key for /v1


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, hub) -> Iterator[World]:
    imitation = CloudImitation("openai", key=KEY).start()
    router = start_router(tmp_path_factory.mktemp("settings-live"), hub.url,
                          {"LLM_ROUTER_WORKERS": "2", "LLM_ROUTER_LOG_LEVEL": "DEBUG"})
    try:
        key = requests.post(f"{router.url}/v0/api-keys", headers=router.auth_headers, timeout=10,
                            json={"name": "settings client", "scopes": ["api"]}).json()["key"]
        yield World(router, imitation, key)
    finally:
        router.stop()
        imitation.stop()


def worker_pids(router: RouterProcess) -> set[str]:
    return set(re.findall(r"Booting worker with pid: (\d+)", router.log_path.read_text(errors="replace")))


def applying_pids(router: RouterProcess, name: str) -> set[str]:
    pattern = rf"settings applied in process (\d+): [a-z_, ]*\b{name}\b"
    return set(re.findall(pattern, router.log_path.read_text(errors="replace")))


def model_ids(world: World) -> list[str]:
    answer = requests.get(f"{world.router.url}/v1/models", timeout=20,
                          headers={"Authorization": f"Bearer {world.key}", "Connection": "close"})
    assert answer.status_code == 200, answer.text
    return [model["id"] for model in answer.json()["data"]]


def test_a_change_through_one_worker_is_applied_by_the_other_within_a_poll_cycle(world: World):
    assert len(worker_pids(world.router)) == 2
    assert "openai:gpt-4o-mini" not in model_ids(world)
    changed = requests.patch(f"{world.router.url}/v0/settings", headers=world.router.auth_headers, timeout=10,
                             json={"openai_api_key": KEY, "openai_base_url": world.openai.base_url})
    assert changed.status_code == 200, changed.text
    deadline = time.monotonic() + POLL_SECONDS
    while applying_pids(world.router, "openai_api_key") != worker_pids(world.router):
        assert time.monotonic() < deadline, "a worker did not apply the change within one poll cycle"
        time.sleep(0.2)
    for _ in range(30):  # new connections each time, so both workers answer some
        assert "openai:gpt-4o-mini" in model_ids(world)


def test_a_provider_key_set_through_the_settings_never_leaks(world: World):
    admin = world.router.auth_headers
    url = world.router.url
    assert requests.patch(f"{url}/v0/settings", headers=admin, timeout=10,
                          json={"openai_api_key": KEY, "openai_base_url": world.openai.base_url}).status_code == 200
    client = {"Authorization": f"Bearer {world.key}"}
    answers = []
    for stream in (False, True):
        world.openai.answer_with(Reply(text="Paris."))
        answer = requests.post(f"{url}/v1/chat/completions", headers=client, timeout=20,
                               json={"model": "openai:gpt-4o-mini", "messages": QUESTION, "stream": stream})
        assert answer.status_code == 200, answer.text
        answers.append(answer.text)
    sent = [{name.lower(): value for name, value in request.headers.items()} for request in world.openai.requests
            if request.method == "POST"]
    assert sent and all(headers["authorization"] == f"Bearer {KEY}" for headers in sent)  # the key in use
    world.openai.answer_with(Failure(401, "invalid_request_error", f"Incorrect API key provided: {KEY}."))
    refused = requests.post(f"{url}/v1/chat/completions", headers=client, timeout=20,
                            json={"model": "openai:gpt-4o-mini", "messages": QUESTION})
    assert refused.status_code == 502
    answers.append(refused.text)
    wrong = requests.patch(f"{url}/v0/settings", headers=admin, timeout=10, json={"openai_api_key": KEY + " x"})
    assert wrong.status_code == 400
    answers += [wrong.text, requests.get(f"{url}/v0/settings", headers=admin, timeout=10).text,
                requests.get(f"{url}/settings", headers=admin, timeout=10).text,
                requests.get(f"{url}/v1/models", headers=client, timeout=10).text]
    deadline = time.monotonic() + 10  # the history is written in batches, a moment after the answers
    while len(records := requests.get(f"{url}/v0/requests?endpoint=/v1/chat/completions", headers=admin,
                                      timeout=10).json()["requests"]) < 3:
        assert time.monotonic() < deadline, "the chat requests did not reach the history"
        time.sleep(0.2)
    answers += [requests.get(f"{url}/v0/requests/{record['id']}", headers=admin, timeout=10).text
                for record in records]
    answers += [requests.get(f"{url}/requests/{record['id']}", headers=admin, timeout=10).text for record in records]
    assert "Paris." in "".join(answers)  # the answers were read
    for text in answers:
        assert KEY not in text
    files = [path for path in Path(world.router.instance_path).rglob("*") if path.is_file()]
    files.append(world.router.log_path)
    assert any(path.name == "router.log" for path in files) and any(path.suffix == ".db" for path in files)
    for path in files:  # logs, the database and its WAL (the history, the sealed settings), the search index
        assert KEY.encode() not in path.read_bytes(), path
