"""A full read parses each container's answer as it arrives (firewall/stream_get.py). Judged
against pan-os-python's own answer for the same request (the xapi parses it whole), on the
simulator over HTTPS: the same entries in the same order, the same errors for the same faults, a
retried request read once; and on answers written here: an entry is let go before the answer
ends, an entry nested in an entry is not an entry of the container, errors say what the device said."""

from __future__ import annotations

import gc
import io
import weakref
import xml.etree.ElementTree as ET

import pytest
from pan.xapi import PanXapiError

from firewall import errors, stream_get
from firewall.device import Credentials, connect
from firewall.sim import VSYS1_XPATH, Simulator
from tests.firewall.sync_fixtures import device_for, endpoint

ADDRESSES = f"{VSYS1_XPATH}/address"
RULES = f"{VSYS1_XPATH}/rulebase/security/rules"


def _fill(sim: Simulator, n: int) -> None:
    admin = sim.as_admin("carol")
    admin.set(f"{VSYS1_XPATH}/tag", "".join(f"<entry name='t{i}'/>" for i in range(3)))
    entries = "".join(
        f"<entry name='a{i:04d}'><ip-netmask>10.{i // 250}.{i % 250}.1/32</ip-netmask>"
        f"<description>caf\u00e9 &amp; &lt;{i}&gt; \"q\"</description><tag><member>t{i % 3}</member></tag></entry>"
        for i in range(n))
    admin.set(ADDRESSES, entries)
    admin.set(RULES, "".join(
        f"<entry name='r{i}'><from><member>any</member></from><to><member>any</member></to>"
        f"<source><member>any</member></source><destination><member>a{i:04d}</member></destination>"
        f"<application><member>any</member></application><service><member>any</member></service>"
        f"<action>allow</action></entry>" for i in range(n // 4)))
    admin.commit()


def _xapi_entries(dev: object, xpath: str) -> list[bytes]:
    result = dev.get(xpath)  # type: ignore[attr-defined]
    return [ET.tostring(e) for e in result[0].findall("entry")] if result is not None and len(result) else []


def test_each_container_reads_as_pan_os_python_reads_it(panos_sim: Simulator) -> None:
    _fill(panos_sim, 1200)
    dev = device_for(panos_sim)
    for xpath in (ADDRESSES, RULES, f"{VSYS1_XPATH}/service", f"{VSYS1_XPATH}/rulebase/nat/rules"):
        streamed = dev.get_each(xpath, lambda entries: [ET.tostring(e) for e in entries])
        assert streamed == _xapi_entries(dev, xpath), xpath
    assert len(dev.get_each(ADDRESSES, list)) == 1200


@pytest.mark.parametrize("fault", [{"kind": "reset", "only": ["config.get"]},
                                   {"kind": "http_error", "status": 502, "times": 2, "only": ["config.get"]}])
def test_a_retried_read_hands_every_entry_once(panos_sim: Simulator, fault: dict[str, object]) -> None:
    _fill(panos_sim, 300)
    dev = device_for(panos_sim, timeout=2)
    want = _xapi_entries(dev, ADDRESSES)
    panos_sim.faults.add_dict(fault)
    assert dev.get_each(ADDRESSES, lambda entries: [ET.tostring(e) for e in entries]) == want
    assert panos_sim.stats_snapshot()["faults"] >= 1


@pytest.mark.parametrize("status, error", [(403, errors.AuthFailed), (500, errors.Unreachable)])
def test_http_errors_map_as_the_xapis_do(panos_sim: Simulator, status: int, error: type[Exception]) -> None:
    dev = connect(endpoint(panos_sim, retries=0), Credentials(api_key=panos_sim.api_key("admin")))  # no renewal
    raised = []
    for read in (lambda: dev.get(ADDRESSES), lambda: dev.get_each(ADDRESSES, list)):
        panos_sim.faults.add_dict({"kind": "http_error", "status": status, "only": ["config.get"]})
        with pytest.raises(errors.FirewallError) as exc:
            read()
        raised.append(type(exc.value))
    assert raised == [error, error]


def _answer(entries: str, status: str = "success", code: str = "19") -> bytes:
    return (f'<response status="{status}" code="{code}"><result total-count="1" count="1">'
            f"<rules>{entries}</rules></result></response>").encode()


def test_an_entry_is_let_go_before_the_answer_ends() -> None:
    n = 5000  # ~60 bytes each: several of the parser's chunks
    body = io.BytesIO(_answer("".join(f"<entry name='e{i}'><x>{i}</x></entry>" for i in range(n))))
    refs: list[weakref.ref[ET.Element]] = []
    alive_when_last = -1
    for i, entry in enumerate(stream_get._parse(body)):
        assert entry.get("name") == f"e{i}" and entry.findtext("x") == str(i)
        refs.append(weakref.ref(entry))
        if i == n - 1:
            gc.collect()
            alive_when_last = sum(1 for r in refs[: n // 2] if r() is not None)
        del entry
    assert len(refs) == n
    assert alive_when_last == 0


def test_entries_nested_in_an_entry_are_its_own() -> None:
    nested = ("<entry name='r1'><target><devices><entry name='0071'/><entry name='0072'/></devices></target>"
              "</entry><entry name='r2'/>")
    parsed = stream_get._parse(io.BytesIO(_answer(nested)))
    got = [(e.get("name"), len(e.findall("target/devices/entry"))) for e in parsed]
    assert got == [("r1", 2), ("r2", 0)]


def test_nothing_there_is_no_entries() -> None:
    assert list(stream_get._parse(io.BytesIO(b'<response status="success" code="7"><result/></response>'))) == []


def test_an_error_answer_raises_with_the_devices_words() -> None:
    body = b'<response status="error" code="13"><msg><line>Object is invalid</line></msg></response>'
    with pytest.raises(PanXapiError, match="Object is invalid"):
        list(stream_get._parse(io.BytesIO(body)))


def test_a_cut_answer_is_a_parse_error() -> None:
    body = _answer("".join(f"<entry name='e{i}'/>" for i in range(100)))[:-40]
    with pytest.raises(PanXapiError, match="ParseError"):
        list(stream_get._parse(io.BytesIO(body)))
