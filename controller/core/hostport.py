"""The "host:port" text bmlb writes into status (NATRule public and vip) and reads back."""

from __future__ import annotations

from controller.core.pools import IPAddress
from ipvs.model import address_text


def join(ip: IPAddress, port: int) -> str:
    """"203.0.113.5:443", "[2001:db8::5]:443"."""
    return f"[{address_text(ip)}]:{port}" if ip.version == 6 else f"{address_text(ip)}:{port}"


def host(text: object) -> str:
    """The host part of what `join` wrote, brackets removed; "" for anything but a string."""
    return text.rsplit(":", 1)[0].strip("[]") if isinstance(text, str) else ""
