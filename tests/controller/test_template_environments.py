"""Each renderer keeps its own Jinja environment: the `set` renderer's filters and finalize
never reach the compiler's names, and every environment fails on an undefined name."""

from __future__ import annotations

import jinja2

from controller.cli import audit_render
from controller.core import deploy, naming, render


def test_renderers_do_not_share_an_environment() -> None:
    envs = [naming.environment(), render._set_environment(), deploy.environment(), audit_render._environment()]
    assert len({id(e) for e in envs}) == len(envs)
    names = naming.environment()
    assert "q" not in names.filters and "members" not in names.filters and names.finalize is None
    assert not names.autoescape and audit_render._environment().autoescape is True
    assert all(e.undefined is jinja2.StrictUndefined for e in envs)
