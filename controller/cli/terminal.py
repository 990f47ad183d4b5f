"""Printing text that may carry a manifest's or a device's strings to a terminal."""

from __future__ import annotations

import re

import click

_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Control characters (ESC, OSC, CR, ...) shown escaped, newlines and tabs kept: no input can
    move the cursor, retitle the terminal or hide a line."""
    return _UNPRINTABLE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def echo(text: str, *, err: bool = False, nl: bool = True) -> None:
    click.echo(clean(text), err=err, nl=nl)
