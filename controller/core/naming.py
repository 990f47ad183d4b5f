"""Firewall names and descriptions, rendered from templates/firewall.j2; names are injective.

Two distinct owners must never produce one PAN-OS name: the device would merge their rules, and
one tenant's allow could replace another's deny. The templates join an owner's identity parts
with "_", which no Kubernetes name, namespace or rule name contains, so a name made only of plain
parts can be split back into them (readable form). A name whose parts are not all plain, or that
would be too long, is a readable prefix + "__" + a 100-bit hash of the whole identity (hashed
form). Readable names never contain "__" (no part is empty or holds "_"), so the two forms never
meet; two hashed names meet only if SHA-256 truncated to 100 bits collides, and the compiler
still checks every desired name for duplicates.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from functools import cache
from itertools import chain
from typing import Any

import jinja2

from controller.core.resources import templates
from firewall.names import MAX_DESCRIPTION, MAX_NAME, is_valid_name

HASH_CHARS = 20  # base32: 100 bits
_PLAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@cache
def environment() -> jinja2.Environment:
    return templates()


@cache
def _macros() -> Any:
    return environment().get_template("firewall.j2").module


def _plain_part(key: str, value: Any) -> bool:
    """A part the readable form may carry as it is: it holds no "_" and is not empty."""
    if isinstance(value, bool | int):
        return True
    if not isinstance(value, str):
        return False
    if key == "protocol":  # an enum (TCP, UDP, SCTP), rendered in lower case
        value = value.lower()
    if key == "ip":
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return False
        return True
    return bool(_PLAIN.fullmatch(value))


def identity_hash(kind: str, values: dict[str, Any]) -> str:
    canonical = json.dumps([kind, sorted((k, str(v)) for k, v in values.items())], separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.b32encode(digest).decode().lower()[:HASH_CHARS]


def name(kind: str, **values: Any) -> str:
    """Render the `kind` macro of templates/firewall.j2 into a valid, injective PAN-OS name."""
    items = sorted(values.items())
    # One flat tuple per name (kind, key, value, key, value, ...): pairs in a tuple of their own
    # cost ~250 more bytes per name, and a full compile at 10,000 Services holds 50,000 of them.
    key = (kind, *chain.from_iterable(items))
    try:
        return _names[key]
    except KeyError:
        pass
    except TypeError:  # an unhashable value
        return _name(kind, items)
    if len(_names) >= NAMES_HELD:
        _names.clear()
    out = _names[key] = _name(kind, items)
    return out


# A compile of thousands of objects names the same zones, ports and addresses again and again
# (110,000 hits for 50,000 names in a full compile at 10,000 Services).
NAMES_HELD = 65536
_names: dict[tuple[Any, ...], str] = {}


def forget() -> None:
    """Empty the names' cache: it pays off within one big compile; between compiles it would only
    hold tens of MB at 10,000 Services for names the next compile renders no more."""
    _names.clear()


def _name(kind: str, items: list[tuple[str, Any]]) -> str:
    values = dict(items)
    raw = str(getattr(_macros(), kind)(**values)).strip()
    if is_valid_name(raw) and "__" not in raw and all(_plain_part(k, v) for k, v in values.items()):
        return raw
    keep = MAX_NAME - HASH_CHARS - 2
    prefix = re.sub(r"[^A-Za-z0-9._-]", "-", raw)[:keep].rstrip("_")
    if not prefix[:1].isalnum():
        prefix = "b" + prefix[: keep - 1]
    return f"{prefix}__{identity_hash(kind, values)}"


def text(kind: str, *, limit: int = MAX_DESCRIPTION, **values: Any) -> str:
    """A description: one line, no control characters or double quotes, cut to the device's limit.
    Not cached: each is its own object's (a full compile at 10,000 Services renders 50,052, none
    twice), and a cache of them held ~38 MB at the compile's peak."""
    rendered = str(getattr(_macros(), kind)(**values))
    out = " ".join(_CONTROL.sub(" ", rendered).replace('"', "'").split())
    return out if len(out) <= limit else out[: limit - 3] + "..."
