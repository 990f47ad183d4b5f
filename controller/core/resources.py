"""bmlb's own files, read from the installed package: the CRDs and the Jinja templates.

They live in the repository's top-level crds/ and templates/; controller/data/ links to them,
so a wheel carries them as package data (pyproject.toml) and an installed bmlb never looks
for a source tree. A missing resource raises ResourceError: an empty folder must not read
as "no CRDs" (every bmlb.io object would then be an unknown kind).
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import jinja2

PACKAGE = "controller"
DATA = "data"
CRD_FILES = ("firewall.yaml", "natrule.yaml", "securitypolicy.yaml", "vippool.yaml")


class ResourceError(RuntimeError):
    """A file bmlb ships with is missing from its installation."""


def _data(*parts: str) -> Traversable:
    node = resources.files(PACKAGE).joinpath(DATA, *parts)
    if not node.is_dir() and not node.is_file():
        raise ResourceError(f"bmlb is installed without {PACKAGE}/{DATA}/{'/'.join(parts)}; reinstall bmlb")
    return node


def crd_texts() -> dict[str, str]:
    """{file name: YAML text} of every bmlb.io CRD, in file-name order."""
    folder = _data("crds")
    found = {f.name: f.read_text(encoding="utf-8") for f in folder.iterdir() if f.name.endswith(".yaml")}
    missing = [n for n in CRD_FILES if n not in found]
    if missing:
        raise ResourceError(f"bmlb is installed without the CRDs {', '.join(missing)}; reinstall bmlb")
    return dict(sorted(found.items()))


def template_loader(*subfolder: str) -> jinja2.BaseLoader:
    """A Jinja loader for templates/ (or a sub-folder of it) inside the package."""
    _data("templates", *subfolder)
    return jinja2.PackageLoader(PACKAGE, "/".join((DATA, "templates", *subfolder)))


def templates(*subfolder: str, html: bool = False, keep_trailing_newline: bool = False,
              **options: Any) -> jinja2.Environment:
    """A new Jinja environment over templates/ (or a sub-folder): an undefined name fails, and
    only HTML is escaped. Each user builds and keeps its own, so no renderer's filters or
    settings reach another's (the compiler's names in particular)."""
    return jinja2.Environment(loader=template_loader(*subfolder), undefined=jinja2.StrictUndefined,
                              autoescape=html, keep_trailing_newline=keep_trailing_newline, **options)


__all__ = ["CRD_FILES", "ResourceError", "crd_texts", "template_loader", "templates"]
