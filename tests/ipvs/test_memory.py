from __future__ import annotations

import errno
import ipaddress

import pytest

from ipvs.diff import AddServer, AddService, DeleteServer, DeleteService, EditServer, bare
from ipvs.errors import ApplyError, IpvsError
from ipvs.memory import MemoryBackend
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
