"""bmlb's own client of the Kubernetes API (controller/runtime/kubeapi.py): kubeconfig reading,
credentials on the wire (a loopback HTTP server records them), and the writes the controller makes
against the real API server."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.cli.localcluster import Cluster
from controller.core.problems import ObjectRef
from controller.runtime import kubeapi
from controller.runtime.kube import Kube, KubeError
from controller.runtime.kubeapi import ApiError, ConfigError, Credentials, KubeAPI, from_kubeconfig


def _kubeconfig(path: Path, *, cluster: dict[str, Any], user: dict[str, Any], current: str | None = "c",
                name: str = "c") -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "contexts": [{"name": name, "context": {"cluster": f"{name}-cluster", "user": f"{name}-user"}}],
        "clusters": [{"name": f"{name}-cluster", "cluster": cluster}],
        "users": [{"name": f"{name}-user", "user": user}]}))
    return path


def test_relative_paths_are_read_from_the_kubeconfigs_folder(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    cfg = _kubeconfig(tmp_path / "config", cluster={"server": "https://10.0.0.1:6443/",
                                                    "certificate-authority": "pki/ca.crt"},
                      user={"client-certificate": "pki/me.crt", "client-key": "/abs/me.key", "tokenFile": "tok"})
    creds = from_kubeconfig(str(cfg))
    assert creds.server == "https://10.0.0.1:6443"
    assert (creds.ca_file, creds.cert_file, creds.key_file, creds.token_file) == (
        str(tmp_path / "pki/ca.crt"), str(tmp_path / "pki/me.crt"), "/abs/me.key", str(tmp_path / "tok"))


def test_data_fields_become_private_files_with_their_bytes(tmp_path: Path) -> None:
    pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    cfg = _kubeconfig(tmp_path / "config",
                      cluster={"server": "https://h:1", "certificate-authority-data": base64.b64encode(pem).decode()},
                      user={"client-certificate-data": base64.b64encode(b"cert").decode(),
                            "client-key-data": base64.b64encode(b"key").decode()})
    creds = from_kubeconfig(str(cfg))
    assert creds.ca_file and creds.cert_file and creds.key_file
    assert Path(creds.ca_file).read_bytes() == pem and Path(creds.key_file).read_bytes() == b"key"
    assert Path(creds.key_file).stat().st_mode & 0o077 == 0


def test_several_files_first_entry_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = _kubeconfig(tmp_path / "a", cluster={"server": "https://first:1"}, user={"token": "t1"}, current=None)
    b = _kubeconfig(tmp_path / "b", cluster={"server": "https://second:1"}, user={"token": "t2"}, current="c")
    monkeypatch.setenv("KUBECONFIG", f"{a}:{b}")
    creds = from_kubeconfig()
    assert (creds.server, creds.token) == ("https://first:1", "t1")


@pytest.mark.parametrize(("cluster", "user", "current", "words"), [
    ({"server": "https://h:1"}, {"exec": {"command": "aws"}}, "c", ["c-user", "exec"]),
    ({"server": "https://h:1"}, {"token": "t"}, "other", ["current-context", "other"]),
    ({}, {"token": "t"}, "c", ["c-cluster", "server"]),
    ({"server": "https://h:1", "proxy-url": "http://proxy:3128"}, {"token": "t"}, "c", ["c-cluster", "proxy-url"]),
    ({"server": "https://h:1", "certificate-authority-data": "!!"}, {}, "c", ["certificate-authority-data"]),
])
def test_unusable_credentials_are_a_clear_error(tmp_path: Path, cluster: dict[str, Any], user: dict[str, Any],
                                                current: str, words: list[str]) -> None:
    cfg = _kubeconfig(tmp_path / "config", cluster=cluster, user=user, current=current)
    with pytest.raises(ConfigError) as err:
        from_kubeconfig(str(cfg))
    assert all(w in str(err.value) for w in words), err.value


def test_a_kubeconfig_that_is_not_yaml_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config").write_text("a: [")
    with pytest.raises(ConfigError, match="config"):
        from_kubeconfig(str(tmp_path / "config"))


class _Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append((self.command, self.path, dict(self.headers), body))
        status = 404 if "missing" in self.path else 200
        data = json.dumps({"kind": "Status", "code": 404} if status == 404 else {"echo": self.path}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PATCH = do_POST = do_PUT = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_rotated_token_file_is_read_again(recorder: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    api = KubeAPI(Credentials(server=recorder, token_file=str(token)))
    answer = api.call("GET", "/api/v1/x", query=[("limit", 5), ("continue", "a b")])
    assert answer == {"echo": "/api/v1/x?limit=5&continue=a+b"}
    token.write_text("second")
    api.call("GET", "/api/v1/x")  # read within the minute: the token held
    monkeypatch.setattr(kubeapi, "TOKEN_REREAD_S", 0.0)
    api.call("GET", "/api/v1/x")
    api.close()
    assert [h["Authorization"] for _, _, h, _ in _Recorder.seen] == ["Bearer first", "Bearer first", "Bearer second"]


def test_writes_carry_json_and_errors_their_status(recorder: str) -> None:
    api = KubeAPI(Credentials(server=recorder, basic=("u", "p")))
    api.send("PATCH", "/apis/g/v1/x", body={"status": {"a": 1}}, content_type=kubeapi.MERGE)
    method, _, headers, body = _Recorder.seen[-1]
    assert (method, headers["Content-Type"], json.loads(body)) == ("PATCH", kubeapi.MERGE, {"status": {"a": 1}})
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    with pytest.raises(ApiError) as err:
        api.call("GET", "/api/v1/missing")
    api.close()
    assert err.value.status == 404


def test_the_controller_and_agent_processes_hold_no_kubernetes_client() -> None:
    code = ("import sys\n"
            "from controller.runtime.kubeapi import without_client_models\n"
            "without_client_models()\n"
            "import kopf, controller.runtime.operator, controller.runtime.agent\n"
            "print(sorted(m for m in sys.modules if m.startswith('kubernetes.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.apiserver
def test_the_controllers_writes_against_the_api_server(cluster: Cluster, ns: str) -> None:
    from tests.controller.estate import service

    kube = Kube.from_config(str(cluster.kubeconfig))
    cluster.apply(service(ns, "web", (80, 80)))
    ref = ObjectRef("Service", ns, "web")
    kube.patch_status(ref, {"loadBalancer": {"ingress": [{"ip": "10.9.0.1"}]}})
    svc = cluster.core.read_namespaced_service("web", ns)
    assert svc.status.load_balancer.ingress[0].ip == "10.9.0.1"
    kube.patch_finalizers(ref, ("bmlb.io/test",), svc.metadata.resource_version)
    assert cluster.core.read_namespaced_service("web", ns).metadata.finalizers == ["bmlb.io/test"]
    with pytest.raises(KubeError) as err:  # a stale resourceVersion: the API server refuses it
        kube.patch_finalizers(ref, (), svc.metadata.resource_version)
    assert err.value.status == 409
    kube.patch_finalizers(ref, (), "")
    assert not cluster.core.read_namespaced_service("web", ns).metadata.finalizers
    kube.post_event(ref, uid=svc.metadata.uid, type_="Normal", reason="IPAllocated", message="10.9.0.1")
    events = cluster.core.list_namespaced_event(ns).items
    assert [(e.reason, e.involved_object.name, e.involved_object.uid) for e in events] == [
        ("IPAllocated", "web", svc.metadata.uid)]
    cluster.core.create_namespaced_secret(ns, {"metadata": {"name": "fw"}, "data": {
        "username": base64.b64encode(b"admin").decode(), "bad": base64.b64encode(b"\xff").decode()}})
    with pytest.raises(KubeError, match="UTF-8"):
        kube.read_secret(ns, "fw")
    with pytest.raises(KubeError) as missing:
        kube.read_secret(ns, "nope")
    assert missing.value.status == 404
    kube.api.close()


@pytest.mark.apiserver
def test_tls_server_name_is_the_name_checked(cluster: Cluster, tmp_path: Path) -> None:
    """The API server's certificate names 127.0.0.1 and localhost: a kubeconfig's tls-server-name
    is what the certificate must hold, so a wrong one is refused (the connection, not a request)."""
    import urllib3

    doc = yaml.safe_load(cluster.kubeconfig.read_text())
    for name, ok in (("localhost", True), ("wrong.example", False)):
        doc["clusters"][0]["cluster"]["tls-server-name"] = name
        (tmp_path / name).write_text(yaml.safe_dump(doc))
        api = kubeapi.connect(str(tmp_path / name))
        try:
            if ok:
                assert api.call("GET", "/api/v1/namespaces/default")["metadata"]["name"] == "default"
            else:
                with pytest.raises(urllib3.exceptions.HTTPError):
                    api.call("GET", "/api/v1/namespaces/default")
        finally:
            api.close()


@pytest.mark.parametrize("command", [["controller"], ["agent", "--node", "n1", "--backend", "memory"]])
def test_the_commands_name_unusable_credentials_in_one_line(tmp_path: Path, command: list[str]) -> None:
    cfg = _kubeconfig(tmp_path / "config", cluster={"server": "https://127.0.0.1:1"},
                      user={"exec": {"command": "aws"}})
    run = subprocess.run([sys.executable, "-m", "controller.cli", *command, "--kubeconfig", str(cfg)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "c-user" in run.stderr and "exec" in run.stderr and "Traceback" not in run.stderr, run.stderr
