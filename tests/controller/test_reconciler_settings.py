"""The loop's periods come from Firewall specs; a malformed spec never raises out of the loop."""

from __future__ import annotations

from typing import Any

import pytest

from controller.runtime.index import ClusterIndex
from controller.runtime.reconciler import Reconciler


def _reconciler(*specs: Any) -> Reconciler:
    index = ClusterIndex()
    for i, spec in enumerate(specs):
        index.upsert("Firewall", {"apiVersion": "bmlb.io/v1alpha1", "kind": "Firewall",
                                  "metadata": {"name": f"fw{i}"}, "spec": spec})

    async def never(_: Any) -> Any:
        raise AssertionError("no sync in this test")
    return Reconciler(index=index, kube=None, sync_firewall=never)  # type: ignore[arg-type]


def test_shortest_periods_win() -> None:
    r = _reconciler({"commit": {"debounceSeconds": 0.5}, "resyncSeconds": 60},
                    {"commit": {"debounceSeconds": 3}, "resyncSeconds": 30})
    assert r._settings() == (0.5, 30.0)


@pytest.mark.parametrize("spec", [
    None, [], "x", {"commit": "fast"}, {"commit": {"debounceSeconds": "soon"}}, {"resyncSeconds": None},
    {"resyncSeconds": float("nan")}, {"resyncSeconds": -1}, {"commit": {"debounceSeconds": True}},
    {"resyncSeconds": [1]},
])
def test_malformed_spec_keeps_the_defaults(spec: Any) -> None:
    assert _reconciler(spec)._settings() == (2.0, 300.0)
