"""Host allow-list and CORS on the assembled server (studio.security.http)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from studio.config import StudioConfig
from studio.security.http import allowed_hosts, is_loopback
from studio.server import build_server


@pytest.fixture(scope="module")
def loopback_server(tmp_path_factory):
    config = StudioConfig(output_dir=tmp_path_factory.mktemp("out"))
    return TestClient(build_server(config), base_url="http://127.0.0.1:7860")


def test_loopback_names():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("studio.example")
    assert allowed_hosts("127.0.0.1") == ["localhost", "127.0.0.1"]
    assert allowed_hosts("0.0.0.0") == ["*"]
    assert allowed_hosts("0.0.0.0", ("me.hf.space",)) == ["localhost", "127.0.0.1", "me.hf.space"]


def test_a_foreign_host_is_refused_on_loopback(loopback_server):
    assert loopback_server.get("/config").status_code == 200
    assert loopback_server.get("/config", headers={"host": "localhost:7860"}).status_code == 200
    for host in ("rebind.attacker.example", "127.0.0.1.attacker.example", "evil:7860"):
        response = loopback_server.get("/config", headers={"host": host})
        assert response.status_code == 400, host
        response = loopback_server.post("/gradio_api/queue/join", json={}, headers={"host": host})
        assert response.status_code == 400, host


def test_extra_hosts_are_answered(tmp_path):
    config = StudioConfig(output_dir=tmp_path, host="0.0.0.0", allowed_hosts=("studio.example",))
    client = TestClient(build_server(config), base_url="http://studio.example")
    assert client.get("/config").status_code == 200
    assert client.get("/config", headers={"host": "other.example"}).status_code == 400


def test_no_cross_origin_request_is_credentialed(loopback_server):
    for origin in ("http://localhost:9999", "http://attacker.example", "null"):
        response = loopback_server.get("/config", headers={"origin": origin})
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-credentials" not in response.headers
        preflight = loopback_server.options(
            "/admin/gradio_api/queue/join",
            headers={"origin": origin, "access-control-request-method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers


def test_config_reads_allowed_hosts():
    config = StudioConfig.from_env({"STUDIO_ALLOWED_HOSTS": " me.hf.space, studio.example ,"})
    assert config.allowed_hosts == ("me.hf.space", "studio.example")
