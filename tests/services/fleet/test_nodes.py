"""Node registration, records and removal (app/services/fleet/nodes.py)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.database import NodeModel, NodeSample
from app.errors import ApiError
from app.extensions import db
from app.services.fleet import nodes
from tests.support.rows import add_report
from tests.support.status_node import GiB, node_body


@pytest.mark.parametrize("changes, field", [
    ({"name": ""}, "name"),
    ({"name": "n" * 101}, "name"),
    ({"name": "tab\tname"}, "name"),
    ({"url": "ftp://127.0.0.1:9"}, "url"),
    ({"url": "http://user@127.0.0.1:9"}, "url"),
    ({"url": "http://127.0.0.1:9/?x=1"}, "url"),
    ({"url": "http://169.254.169.254"}, "url"),  # in the default deny list
    ({"url": None}, "url"),
    ({"platform": "beos"}, "platform"),
    ({"engines": ["vllm"]}, "engines"),
    ({"engines": "llama_cpp"}, "engines"),
    ({"cpu_count": -1}, "cpu_count"),
    ({"memory_bytes": True}, "memory_bytes"),
    ({"gpus": [{"name": "L4"}]}, "gpus"),
    ({"gpus": [{"name": "L4", "memory_bytes": GiB}] * 65}, "gpus"),
    ({"version": "v" * 33}, "version"),
])
def test_parse_registration_names_the_field(app, changes, field):
    with app.app_context(), pytest.raises(ApiError) as caught:
        nodes.parse_registration(node_body(**changes))
    assert (caught.value.status, caught.value.code, caught.value.param) == (400, "invalid_node", field)


def test_parse_registration_normalises(app):
    with app.app_context():
        fields = nodes.parse_registration(node_body(url="http://127.0.0.1:8090/base/", engines=["llama_cpp"] * 2,
                                                    gpus=[{"name": "L" * 150, "memory_bytes": 24 * GiB}]))
        with pytest.raises(ApiError) as caught:
            nodes.parse_registration(["not", "an", "object"])
    assert fields["url"] == "http://127.0.0.1:8090/base"
    assert fields["engines"] == ["llama_cpp"]
    assert fields["gpus"] == [{"name": "L" * 100, "memory_bytes": 24 * GiB}]
    assert caught.value.param == "body"


def test_a_denied_address_is_named(app):
    app.config["NODE_DENY_NETWORKS"] = "127.0.0.0/8"
    with app.app_context(), pytest.raises(ApiError) as caught:
        nodes.parse_registration(node_body(url="http://127.0.0.1:9"))
    assert caught.value.param == "url" and "127.0.0.1" in caught.value.message


def test_registering_again_needs_the_token_or_an_admin(app):
    with app.app_context():
        node, created = nodes.register_node(node_body(name="box"))
        first_id, first_token = node.id, node.token
        assert created and node.online
        with pytest.raises(ApiError) as caught:
            nodes.register_node(node_body(name="box", cpu_count=4))
        assert (caught.value.status, caught.value.code, caught.value.param) == (409, "node_name_taken", "name")
        with pytest.raises(ApiError):
            nodes.register_node(node_body(name="box"), presented_token="a wrong token")

        again, created = nodes.register_node(node_body(name="box", cpu_count=4), presented_token=first_token)
        assert (again.id, again.token, again.cpu_count, created) == (first_id, first_token, 4, False)

        by_admin, created = nodes.register_node(node_body(name="box"), admin=True)
        assert by_admin.id == first_id and not created
        assert by_admin.token != first_token
        assert not nodes.token_matches(by_admin, first_token) and nodes.token_matches(by_admin, by_admin.token)
        assert not nodes.token_matches(by_admin, None)


def test_node_record_never_holds_the_token(app):
    with app.app_context():
        node = nodes.register_node(node_body(name="box"))[0]
        node.metrics = {"cpu_percent": 500, "secret": "x"}
        record = nodes.node_record(node)
        token = node.token
    assert "token" not in record
    assert token not in json.dumps(record)
    assert record["name"] == "box" and record["online"] is True and record["failed_polls"] == 0
    assert record["metrics"] == {"cpu_percent": 100}  # shaped again when shown
    assert record["loaded_models"] == [] and record["registered_at"].endswith("+00:00")


def test_get_node_and_delete_node(app):
    with app.app_context():
        keep = nodes.register_node(node_body(name="keep"))[0]
        gone = nodes.register_node(node_body(name="gone"))[0]
        for node in (keep, gone):
            add_report(node, "m", "ready")
            db.session.add(NodeSample(node_id=node.id, online=True, metrics={}, active_requests=0))
        db.session.commit()
        gone_id = gone.id
        nodes.delete_node(gone)
        with pytest.raises(ApiError) as caught:
            nodes.get_node(gone_id)
        assert (caught.value.status, caught.value.code) == (404, "node_not_found")
        assert [node.name for node in nodes.all_nodes()] == ["keep"]
        for table in (NodeModel, NodeSample):
            assert db.session.scalar(select(func.count()).select_from(table).where(table.node_id == gone_id)) == 0
            assert db.session.scalar(select(func.count()).select_from(table).where(table.node_id == keep.id)) == 1
