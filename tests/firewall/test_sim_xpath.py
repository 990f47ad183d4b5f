"""The XPath subset (pure functions, table-driven)."""

from __future__ import annotations

import pytest

from firewall.sim import tree, xpath

DOC = """<config><devices><entry name="localhost.localdomain"><vsys><entry name="vsys1"><address>
<entry name="a"><ip-netmask>10.0.0.1</ip-netmask><description>d</description></entry>
<entry name="it's"><fqdn>x.example</fqdn></entry>
<entry name='say "hi"'><fqdn>y.example</fqdn></entry>
<entry name="both'&quot;"><fqdn>z.example</fqdn></entry>
</address></entry></vsys></entry></devices></config>"""
ADDR = "/config/devices/entry[@name='localhost.localdomain']/vsys/entry[@name='vsys1']/address"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(f"{ADDR}/entry[@name='a']", ["a"], id="single-quoted"),
        pytest.param(f'{ADDR}/entry[@name="it\'s"]', ["it's"], id="double-quoted"),
        pytest.param(f"{ADDR}/entry[@name={xpath.quote('both' + chr(39) + chr(34))}]", ["both'\""], id="concat"),
        pytest.param(f"{ADDR}/entry[@name='a' or @name='it''s' or @name='zzz']", ["a"], id="or"),
        pytest.param(f"{ADDR}/entry/@name", ["a", "it's", 'say "hi"', "both'\""], id="attribute"),
        pytest.param(f"{ADDR}/entry[@name='a']/description | {ADDR}/entry[@name='a']/ip-netmask",
                     ["description", "ip-netmask"], id="union"),
        pytest.param(f"{ADDR}/entry[@name='missing']", [], id="no-match"),
        pytest.param(f"{ADDR}/*[@name='a']", ["a"], id="wildcard"),
    ],
)
def test_select(path: str, expected: list[str]) -> None:
    doc = tree.new_tree(DOC)
    found = xpath.select(doc, path)
    names = [m.node.get(m.attribute) if m.attribute else (m.node.get("name") or m.node.tag) for m in found]
    assert names == expected


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("config/devices", id="relative"),
        pytest.param("//entry", id="descendant"),
        pytest.param("/config/entry[@name='a'", id="unbalanced"),
        pytest.param("/config/entry[position()=1]", id="function"),
        pytest.param("/config/@name/x", id="attribute-not-last"),
    ],
)
def test_rejects_outside_the_subset(path: str) -> None:
    with pytest.raises(xpath.XPathError):
        xpath.select(tree.new_tree(DOC), path)


def test_ensure_creates_missing_nodes_once() -> None:
    doc = tree.new_tree("<config/>")
    chain = xpath.ensure(doc, "/config/shared/address/entry[@name='n']")
    assert chain[-1].get("name") == "n"
    assert xpath.ensure(doc, "/config/shared/address/entry[@name='n']")[-1] is chain[-1]
    with pytest.raises(xpath.XPathError):
        xpath.ensure(doc, "/config/shared/address/entry[@name='a' or @name='b']")


@pytest.mark.parametrize(
    ("where", "dst", "order"),
    [
        pytest.param("top", None, ["c", "a", "b"], id="top"),
        pytest.param("before", "b", ["a", "c", "b"], id="before"),
        pytest.param("after", "a", ["a", "c", "b"], id="after"),
    ],
)
def test_move(where: str, dst: str | None, order: list[str]) -> None:
    doc = tree.new_tree("<config><rules><entry name='a'/><entry name='b'/><entry name='c'/></rules></config>")
    tree.move(doc, "/config/rules/entry[@name='c']", where, dst)
    assert [e.get("name") for e in doc.iter("entry")] == order


@pytest.mark.parametrize(
    ("name", "where", "dst"),
    [
        pytest.param("a", "top", None, id="already-top"),
        pytest.param("c", "bottom", None, id="already-bottom"),
        pytest.param("b", "after", "a", id="already-after"),
        pytest.param("b", "before", "zzz", id="missing-dst"),
    ],
)
def test_impossible_move_is_code_14(name: str, where: str, dst: str | None) -> None:
    doc = tree.new_tree("<config><rules><entry name='a'/><entry name='b'/><entry name='c'/></rules></config>")
    with pytest.raises(tree.ConfigError) as exc:
        tree.move(doc, f"/config/rules/entry[@name='{name}']", where, dst)
    assert exc.value.code == 14
