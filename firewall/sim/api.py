"""The /api/ endpoint: form parameters in, (HTTP status, XML) out.

`request_kind(params)` names a request for accounting and fault matching: "keygen", "op",
"commit", "commit-all" or "config.<action>".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from firewall.sim import ops, responses, tree
from firewall.sim.changes import WRITE_ACTIONS, Change
from firewall.sim.device import Device
from firewall.sim.tree import ConfigError


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: str


def request_kind(params: dict[str, str]) -> str:
    kind = params.get("type", "")
    if kind == "config":
        return f"config.{params.get('action', '')}"
    if kind == "commit" and params.get("action") == "all":
        return "commit-all"
    return kind


def handle(device: Device, params: dict[str, str]) -> Reply:
    kind = params.get("type")
    if kind == "keygen":
        key = device.keygen(params.get("user", ""), params.get("password", ""))
        if key is None:
            return Reply(403, responses.to_text(responses.forbidden()))
        key_elem = ET.Element("key")
        key_elem.text = key
        return _ok(responses.result(key_elem))
    admin = device.admin_for_key(params.get("key", ""))
    if admin is None:
        return Reply(403, responses.to_text(responses.forbidden()))
    try:
        if kind == "config":
            return _ok(_config(device, admin, params))
        if kind == "op":
            return _ok(ops.handle(device, admin, params.get("cmd", ""), params.get("vsys") or "shared"))
        if kind == "commit":
            return _ok(_commit(device, admin, params))
    except ConfigError as exc:
        return _ok(responses.error(exc.code, exc.lines))
    return Reply(400, responses.to_text(responses.bad_request(f'Illegal value for parameter "type" [{kind}].')))


def _ok(elem: ET.Element) -> Reply:
    return Reply(200, responses.to_text(elem))


def _config(device: Device, admin: str, params: dict[str, str]) -> ET.Element:
    action = params.get("action", "")
    xpath = params.get("xpath", "")
    if action in ("get", "show"):
        return _read(device, action, xpath or "/config")
    if action == "multi-config":
        return _multi(device, admin, params)
    if action not in WRITE_ACTIONS:
        raise ConfigError(17, f"Unsupported action: {action}")
    if not xpath:
        raise ConfigError(6, "Missing xpath")
    change = _change(admin, action, xpath, params, params.get("element"))
    touched = device.write(change)
    if action == "delete" and not touched:
        return responses.message("Object doesn't exist", code=7)
    return responses.command_succeeded()


def _change(admin: str, action: str, xpath: str, attrs: dict[str, str], element: str | None) -> Change:
    elements = tree.parse_element(element) if action in ("set", "edit") else []
    if action in ("set", "edit") and not elements:
        raise ConfigError(18, f"{action} requires an element")
    if action == "move" and not attrs.get("where"):
        raise ConfigError(18, "move requires where")
    if action == "rename" and not attrs.get("newname"):
        raise ConfigError(18, "rename requires newname")
    return Change(admin, action, xpath, elements, attrs.get("where", ""), attrs.get("dst"),
                  attrs.get("newname", ""))


def _read(device: Device, action: str, xpath: str) -> ET.Element:
    found = device.read(action, xpath)
    items = [ET.Element(node.tag, {attr: node.get(attr, "")}) if attr else node for node, attr in found]
    if action == "get":
        if not items:
            return responses.result(code=7)
        return responses.result(*items, code=19, counts=True)
    if not items:
        return responses.error(7, ["No such node"])
    return responses.result(*items)


def _multi(device: Device, admin: str, params: dict[str, str]) -> ET.Element:
    """pango's multi-config: sub-requests with ids, answered one by one."""
    try:
        root = ET.fromstring(params.get("element", ""))
    except ET.ParseError as exc:
        raise ConfigError(18, f"Malformed Request: {exc}") from exc
    if root.tag != "multi-configure-request":
        raise ConfigError(18, "element must be a multi-configure-request")
    batch: list[Change] = []
    ids: list[str] = []
    for sub in root:
        if sub.tag not in WRITE_ACTIONS:
            raise ConfigError(17, f"Unsupported multi-config action: {sub.tag}")
        xpath = sub.get("xpath", "")
        if not xpath:
            raise ConfigError(6, f"sub-request {sub.get('id', '')} has no xpath")
        element = "".join(ET.tostring(c, encoding="unicode") for c in sub) if len(sub) else None
        batch.append(_change(admin, sub.tag, xpath, dict(sub.attrib), element))
        ids.append(sub.get("id", str(len(ids) + 1)))
    strict = params.get("strict-transactional", "").lower() in ("yes", "true")
    results = device.write_many(batch, strict=strict)
    failed = next((r for r in results if isinstance(r, ConfigError)), None)
    outer = ET.Element("response", {"status": "error" if failed else "success",
                                    "code": str(failed.code if failed else 20)})
    for sub_id, res in zip(ids, results, strict=False):
        if isinstance(res, ConfigError):
            inner = responses.error(res.code, res.lines)
        else:
            inner = responses.command_succeeded()
        tagged = ET.SubElement(outer, "response", {"id": sub_id, **inner.attrib})
        tagged.extend(inner)
    if failed is not None and strict:
        msg = ET.SubElement(outer, "msg")
        ET.SubElement(msg, "line").text = "strict-transactional: no change was applied"
    return outer


def _commit(device: Device, admin: str, params: dict[str, str]) -> ET.Element:
    cmd = _parse_cmd(params.get("cmd") or "<commit></commit>")
    if params.get("action") == "all":
        if not device.system.panorama:
            raise ConfigError(17, "commit-all is only available on Panorama")
        dg = cmd.find("shared-policy/device-group/entry")
        description = cmd.findtext("shared-policy/description") or cmd.findtext("description") or ""
        job = device.commit_all(admin, dg.get("name") if dg is not None else None, description)
        return responses.job_enqueued(job.id, commit_all=True)
    if cmd.tag != "commit":
        raise ConfigError(17, f"{cmd.tag} is unexpected")
    members = cmd.findall("partial/admin/member")
    description = cmd.findtext("description") or ""
    if len(description) > 512:
        raise ConfigError(12, "commit description is longer than 512 characters")
    job = device.commit(admin, admins=[m.text or "" for m in members] if members else None,
                        force=cmd.find("force") is not None, description=description)
    if job is None:
        return responses.message("There are no changes to commit.", code=19)
    return responses.job_enqueued(job.id)


def _parse_cmd(text: str) -> ET.Element:
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ConfigError(18, f"Malformed Request: {exc}") from exc
