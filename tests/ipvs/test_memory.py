from __future__ import annotations

import errno
import ipaddress
import json
from pathlib import Path

import pytest

from ipvs.diff import AddServer, AddService, DeleteServer, DeleteService, EditServer, ServerRef, bare
from ipvs.drain import Connections
from ipvs.errors import ApplyError, IpvsError
from ipvs.memory import MemoryBackend
from ipvs.persist import connections_path
from tests.ipvs.helpers import rs, table, vs

A = vs("10.96.0.10", 80, rs("10.0.0.1"))


def test_apply_and_read() -> None:
    b = MemoryBackend()
    assert b.apply([AddService(bare(A)), AddServer(bare(A), rs("10.0.0.1"))]) == 2
    assert b.table() == table(A)
    assert b.read().table == table(A)
    assert b.read(lambda vip: False).table == table()
    assert len(b.log) == 2


@pytest.mark.parametrize(
    ("op", "code"),
    [
        pytest.param(AddService(bare(A)), errno.EEXIST, id="service exists"),
        pytest.param(AddServer(bare(A), rs("10.0.0.1")), errno.EEXIST, id="server exists"),
        pytest.param(DeleteService(bare(vs("10.96.0.11"))), errno.ESRCH, id="no such service"),
        pytest.param(DeleteServer(bare(A), rs("10.0.0.9")), errno.ENOENT, id="no such server"),
        pytest.param(EditServer(bare(A), rs("10.0.0.9")), errno.ENOENT, id="edit missing server"),
    ],
)
def test_kernel_like_errors_keep_the_rest(op: object, code: int) -> None:
    b = MemoryBackend(table(A))
    extra = AddServer(bare(A), rs("10.0.0.2"))
    with pytest.raises(ApplyError) as e:
        b.apply([op, extra])  # type: ignore[list-item]
    assert [f.errno for f in e.value.failures] == [code]
    assert e.value.applied == 1
    assert rs("10.0.0.2") in b.table().services[0].real_servers


def test_links() -> None:
    b = MemoryBackend()
    vip = ipaddress.ip_address("10.96.0.10")
    assert b.addresses("bmlb0") == frozenset()
    with pytest.raises(IpvsError):
        b.bind("bmlb0", [vip])
    b.ensure_link("bmlb0")
    b.bind("bmlb0", [vip])
    assert b.addresses("bmlb0") == {vip}
    b.unbind("bmlb0", [vip])
    assert b.addresses("bmlb0") == frozenset()


def test_sysctls_report_changes_only() -> None:
    b = MemoryBackend(sysctls={"net.ipv4.ip_forward": "1"})
    assert b.ensure_sysctls({"net.ipv4.ip_forward": "1", "net.ipv4.vs.conntrack": "1"}) == ("net.ipv4.vs.conntrack",)


def test_persistent_backend_survives_its_process(tmp_path: Path) -> None:
    """Saved after every operation: a new backend on the file starts from the half-applied table."""
    path = tmp_path / "n1.json"
    b = MemoryBackend.persistent(path)
    b.ensure_link("bmlb0")
    b.bind("bmlb0", [A.address])
    b.apply([AddService(bare(A)), AddServer(bare(A), rs("10.0.0.1"))])
    with pytest.raises(ApplyError):
        b.apply([AddServer(bare(A), rs("10.0.0.2")), DeleteService(bare(vs("10.96.0.11")))])
    again = MemoryBackend.persistent(path)
    assert again.table() == table(vs("10.96.0.10", 80, rs("10.0.0.1"), rs("10.0.0.2")))
    assert again.addresses("bmlb0") == {A.address}
    assert again.ops == 3
    assert not list(tmp_path.glob(".*.tmp"))


def test_persistent_backend_reads_connections_from_its_side_file(tmp_path: Path) -> None:
    path = tmp_path / "n1.json"
    b = MemoryBackend.persistent(path, op_delay=0.0)
    b.apply([AddService(bare(A)), AddServer(bare(A), rs("10.0.0.1"))])
    ref = ServerRef(A.key, rs("10.0.0.1").key)
    assert b.read().connections[ref] == Connections()
    connections_path(path).write_text(json.dumps([{"protocol": "tcp", "address": "10.96.0.10", "port": 80,
                                                   "server": "10.0.0.1", "server_port": 8080, "active": 2}]))
    assert b.read().connections[ref] == Connections(active=2)
    assert b.read_servers([bare(A)]).connections[ref] == Connections(active=2)
