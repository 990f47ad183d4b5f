"""Firewall names and descriptions, rendered from templates/firewall.j2 and made PAN-OS safe.

A rendered name keeps its text when it is already valid; otherwise invalid characters become
"-" and a name over 63 characters is cut and suffixed with a hash of the full rendered text, so
two different objects never end up with one name.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from typing import Any

import jinja2

from controller.resources import template_loader
from firewall.names import MAX_DESCRIPTION, MAX_NAME, is_valid_name

_INVALID = re.compile(r"[^A-Za-z0-9._-]")
HASH_LEN = 8


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=template_loader(),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


@cache
def _macros() -> Any:
    return environment().get_template("firewall.j2").module


def safe_name(raw: str, *, hash_len: int = HASH_LEN) -> str:
    if is_valid_name(raw):
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:hash_len]
    cleaned = _INVALID.sub("-", raw)
    if not cleaned[:1].isalnum():
        cleaned = "b" + cleaned
    if len(cleaned) <= MAX_NAME and cleaned == raw:
        return cleaned
    keep = MAX_NAME - hash_len - 1
    return f"{cleaned[:keep].rstrip('-._')}-{digest}"


def name(kind: str, **values: Any) -> str:
    """Render the `kind` macro of templates/firewall.j2 and make it a valid PAN-OS name."""
    raw = str(getattr(_macros(), kind)(**values)).strip()
    return safe_name(raw)


def text(kind: str, *, limit: int = MAX_DESCRIPTION, **values: Any) -> str:
    out = " ".join(str(getattr(_macros(), kind)(**values)).split())
    return out if len(out) <= limit else out[: limit - 3] + "..."
