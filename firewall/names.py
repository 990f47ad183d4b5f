"""PAN-OS naming rules, shared by everything that produces or checks firewall names."""

from __future__ import annotations

import re

MAX_NAME = 63
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
MAX_DESCRIPTION = 1023
MAX_TAG = 127


def is_valid_name(name: str) -> bool:
    """True when `name` is safe as a PAN-OS object or rule name (and inside any XPath literal)."""
    return bool(NAME_RE.fullmatch(name))


def is_valid_tag(name: str) -> bool:
    return 0 < len(name) <= MAX_TAG and bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name))
