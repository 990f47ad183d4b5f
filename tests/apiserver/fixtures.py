"""pytest fixtures for the kapilite test API server.

Load it from a conftest at the top of the test tree::

    pytest_plugins = ["tests.apiserver.fixtures"]

Fixtures:
- ``apiserver`` (session): one running :class:`ApiServer`; the kapilite/etcd/kubectl folder is put
  first on PATH for the session. The binaries are built when missing or stale (about 3.5 min on a
  fresh machine, progress shown live); a failed build fails the tests, it never skips them.
  ``BMLB_BUILD_APISERVER=0`` forbids building (a missing binary is then an error), except in CI
  (``CI=true``), which always builds.
- ``kube_api`` (session): a ``kubernetes.client.ApiClient`` configured explicitly for that server.
- ``k8s_namespace`` (function): the name of a fresh namespace, cleaned up and deleted afterwards.
- ``kubeconfig_env`` (function): points $KUBECONFIG, the kubernetes client's default config and its
  default kubeconfig location at the server, for code that loads the config itself (kopf, the CLI).

The server authorizes by RBAC and calls admission webhooks; the kubeconfig is an admin
(system:masters). ``apiserver.user_kubeconfig(*service_account_user(ns, name))`` makes one for a
ServiceAccount, with exactly the rights its RBAC bindings give.

Tests using them get the ``apiserver`` marker, so ``-m "not apiserver"`` leaves them out.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from controller.cli.kapilite_build import ApiServerError, bin_dir, ensure_built, needs_build
from tests.apiserver.server import ApiServer

API_FIXTURES = frozenset({"apiserver", "kube_api", "k8s_namespace", "kubeconfig_env"})


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _build_allowed() -> bool:
    if _truthy("CI"):
        return True
    return os.environ.get("BMLB_BUILD_APISERVER", "1").strip().lower() not in {"0", "false", "no", "off"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if API_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.apiserver)


_prepared: list[BaseException | None] = []


def _prepare(config: pytest.Config) -> None:
    """Build (or check) the binaries once per session; a failure is re-raised by every user."""
    if not _prepared:
        try:
            if _build_allowed():
                if needs_build():
                    # Show the build live: it takes minutes on a fresh machine.
                    capman = config.pluginmanager.getplugin("capturemanager")
                    ctx = capman.global_and_fixture_disabled() if capman else contextlib.nullcontext()
                    with ctx:
                        sys.stderr.write("\n[bmlb] building the kapilite test API server (cached afterwards)\n")
                        ensure_built(stream=sys.stderr)
            else:
                try:
                    ensure_built(build=False)
                except ApiServerError as e:
                    raise ApiServerError(f"{e} (BMLB_BUILD_APISERVER=0 forbids building it here)") from None
            _prepared.append(None)
        except Exception as e:
            _prepared.append(e)
    if _prepared[0] is not None:
        raise _prepared[0]


def pytest_collection_finish(session: pytest.Session) -> None:
    # Build before the first test starts, so the build's minutes do not count against that
    # test's timeout (pytest-timeout). Errors surface in the tests that need the server.
    if any(API_FIXTURES & set(getattr(item, "fixturenames", ())) for item in session.items):
        with contextlib.suppress(Exception):
            _prepare(session.config)


@pytest.fixture(scope="session")
def apiserver(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One etcd + kapilite for the whole session."""
    _prepare(request.config)
    server = ApiServer(tmp_path_factory.mktemp("kapilite"), build=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", f"{bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}")
        with server:
            yield server


@pytest.fixture(scope="session")
def kube_api(apiserver: ApiServer) -> Iterator[Any]:
    """A ``kubernetes.client.ApiClient`` for the test server (config loaded explicitly)."""
    from kubernetes import config

    client = config.new_client_from_config(config_file=str(apiserver.kubeconfig))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def kubeconfig_env(apiserver: ApiServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    """Make code that finds its own config (kopf, ``load_kube_config()``, kubectl) use the server."""
    from kubernetes import client, config
    from kubernetes.config import kube_config

    monkeypatch.setenv("KUBECONFIG", str(apiserver.kubeconfig))
    monkeypatch.setenv("PATH", f"{bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}")
    # The client reads $KUBECONFIG once, at import: patch the location it remembered.
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(apiserver.kubeconfig))
    previous = client.Configuration.get_default_copy()
    config.load_kube_config(config_file=str(apiserver.kubeconfig))
    try:
        yield apiserver
    finally:
        client.Configuration.set_default(previous)


def _namespace_name(test_name: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:45].strip("-") or "t"
    return f"t-{base}-{secrets.token_hex(3)}"


@pytest.fixture
def k8s_namespace(request: pytest.FixtureRequest, kube_api: Any) -> Iterator[str]:
    """A fresh namespace for one test; its objects are deleted (best effort) with it afterwards.

    kapilite has no namespace controller: deleting a namespace does not cascade, so the fixture
    deletes the common core kinds and the custom resources in it first.
    """
    from kubernetes import client

    core = client.CoreV1Api(kube_api)
    name = _namespace_name(request.node.name)
    core.create_namespace({"metadata": {"name": name, "labels": {"bmlb.io/test": "true"}}})
    try:
        yield name
    finally:
        _clean_namespace(kube_api, name)
        with contextlib.suppress(client.ApiException):
            core.delete_namespace(name)


def _clean_namespace(api: Any, ns: str) -> None:
    from kubernetes import client

    core = client.CoreV1Api(api)
    calls = [
        core.delete_collection_namespaced_service,
        core.delete_collection_namespaced_endpoints,
        core.delete_collection_namespaced_config_map,
        core.delete_collection_namespaced_secret,
        core.delete_collection_namespaced_event,
        core.delete_collection_namespaced_pod,
        core.delete_collection_namespaced_service_account,
        client.DiscoveryV1Api(api).delete_collection_namespaced_endpoint_slice,
        client.CoordinationV1Api(api).delete_collection_namespaced_lease,
    ]
    for call in calls:
        with contextlib.suppress(client.ApiException):
            call(ns)
    custom = client.CustomObjectsApi(api)
    try:
        crds = client.ApiextensionsV1Api(api).list_custom_resource_definition().items
    except client.ApiException:
        return
    for crd in crds:
        if crd.spec.scope != "Namespaced":
            continue
        for version in crd.spec.versions:
            if version.served and version.storage:
                with contextlib.suppress(client.ApiException):
                    custom.delete_collection_namespaced_custom_object(
                        crd.spec.group, version.name, ns, crd.spec.names.plural
                    )


def install_crds(api: Any, docs: Iterable[dict[str, Any]], timeout: float = 30.0) -> list[str]:
    """Create (or replace) CRDs and wait until each is Established and its resources can be listed.

    Right after a CRD is created its storage may still be initialising (a transient 429): this waits
    that out too. Returns the CRD names.
    """
    from kubernetes import client

    ext = client.ApiextensionsV1Api(api)
    custom = client.CustomObjectsApi(api)
    names = []
    for doc in docs:
        name = doc["metadata"]["name"]
        try:
            ext.create_custom_resource_definition(doc)
        except client.ApiException as e:
            if e.status != 409:
                raise
            current = ext.read_custom_resource_definition(name)
            body = {**doc, "metadata": {**doc["metadata"], "resourceVersion": current.metadata.resource_version}}
            ext.replace_custom_resource_definition(name, body)
        names.append(name)
    deadline = time.monotonic() + timeout
    for name in names:
        while True:
            crd = ext.read_custom_resource_definition(name)
            established = any(
                c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])
            )
            if established:
                version = next(v.name for v in crd.spec.versions if v.served)
                try:
                    custom.list_cluster_custom_object(crd.spec.group, version, crd.spec.names.plural, limit=1)
                    break
                except client.ApiException as e:
                    if e.status not in (404, 429, 503):
                        raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not established and served within {timeout}s")
            time.sleep(0.1)
    return names
