from __future__ import annotations

import pytest

from ipvs.diff import ServerRef
from ipvs.drain import Connections, Decision, step

TCP = ServerRef(("tcp", 4, "10.96.0.10", 80), (4, "10.0.0.1", 8080))
UDP = ServerRef(("udp", 4, "10.96.0.10", 53), (4, "10.0.0.1", 53))
BUSY = Connections(active=2, inactive=1)


@pytest.mark.parametrize(
    ("since", "leaving", "now", "expected"),
    [
        pytest.param({}, {}, 0.0, Decision(), id="nothing leaving"),
        pytest.param({}, {TCP: BUSY}, 10.0, Decision({TCP: 10.0}, frozenset({TCP})), id="busy server starts draining"),
        pytest.param({TCP: 10.0}, {TCP: BUSY}, 50.0, Decision({TCP: 10.0}, frozenset({TCP})), id="still busy"),
        pytest.param({}, {TCP: Connections()}, 10.0, Decision(release=frozenset({TCP})), id="idle server goes at once"),
        pytest.param(
            {TCP: 10.0}, {TCP: Connections(inactive=1)}, 20.0, Decision({TCP: 10.0}, frozenset({TCP})),
            id="inactive connections count",
        ),
        pytest.param({TCP: 10.0}, {TCP: Connections()}, 20.0, Decision(release=frozenset({TCP})), id="drained"),
        pytest.param({TCP: 10.0}, {TCP: BUSY}, 110.0, Decision(release=frozenset({TCP})), id="timeout"),
        pytest.param({}, {UDP: BUSY}, 10.0, Decision(release=frozenset({UDP})), id="UDP goes at once"),
        pytest.param({TCP: 10.0}, {}, 20.0, Decision(), id="no longer leaving is forgotten"),
    ],
)
def test_step(
    since: dict[ServerRef, float], leaving: dict[ServerRef, Connections], now: float, expected: Decision
) -> None:
    assert step(since, leaving, now=now, timeout=100.0) == expected
