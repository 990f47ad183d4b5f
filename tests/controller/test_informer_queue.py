"""The informer's queue to the event loop: the latest event of each object, handed over in batches.

Oracle: the index is level-triggered, so whatever the loop takes must leave a store in the state
that every event applied one by one, in order, would have left; and a listing's SYNCED must come
after every object that listing held."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.runtime.informer import Informer, Watched


class _Loop:
    """Stands in for the event loop: keeps what was scheduled until the test runs it."""

    def __init__(self) -> None:
        self.scheduled: list[Callable[[], None]] = []

    def call_soon_threadsafe(self, fn: Callable[..., None], *args: Any) -> None:
        self.scheduled.append(lambda: fn(*args))

    def run(self) -> None:
        todo, self.scheduled = self.scheduled, []
        for fn in todo:
            fn()


def _obj(name: str, version: int) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": str(version),
                         "managedFields": [{"manager": "kubectl"}]}}


def _apply(store: dict[str, str], type_: str, obj: dict[str, Any]) -> None:
    if type_ == "SYNCED":
        for key in [k for k in store if k not in obj["keys"]]:
            del store[key]
    elif type_ == "DELETED":
        store.pop(f"ns/{obj['metadata']['name']}", None)
    else:
        store[f"ns/{obj['metadata']['name']}"] = obj["metadata"]["resourceVersion"]


step = st.one_of(
    st.tuples(st.sampled_from(["ADDED", "MODIFIED", "DELETED"]), st.sampled_from("abcd")),
    st.tuples(st.just("SYNCED"), st.sets(st.sampled_from("abcd")).map(lambda s: "".join(sorted(s)))),
    st.just(("DRAIN", "")))


@settings(max_examples=300, deadline=None)
@given(st.lists(step, max_size=40))
def test_batches_leave_what_every_event_in_order_leaves(steps: list[tuple[str, str]]) -> None:
    loop = _Loop()
    taken: list[tuple[str, dict[str, Any]]] = []
    informer = Informer(None, Watched("Service", "", "v1", "services"),  # type: ignore[arg-type]
                        lambda kind, t, o: taken.append((t, o)), loop)  # type: ignore[arg-type]
    expected: dict[str, str] = {}
    store: dict[str, str] = {}
    wakes = 0
    for version, (type_, name) in enumerate(steps):
        if type_ == "DRAIN":
            wakes += len(loop.scheduled)
            loop.run()
            for t, o in taken:
                _apply(store, t, o)
            taken.clear()
            assert store == expected
            continue
        # A listing's keys: what it held; the store drops the rest (a deletion its watch missed).
        obj = {"keys": [f"ns/{k}" for k in name]} if type_ == "SYNCED" else _obj(name, version)
        _apply(expected, type_, obj)
        informer._emit(type_, obj)
        assert len(loop.scheduled) <= 1  # one wake-up per batch
    loop.run()
    for t, o in taken:
        _apply(store, t, o)
        assert t == "SYNCED" or "managedFields" not in o["metadata"]
    assert store == expected


def test_a_handler_that_raises_costs_only_its_own_event() -> None:
    loop = _Loop()
    taken: list[str] = []

    def handler(kind: str, type_: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] == "bad":
            raise ValueError("unreadable")
        taken.append(obj["metadata"]["name"])

    informer = Informer(None, Watched("Service", "", "v1", "services"), handler, loop)  # type: ignore[arg-type]
    for i, name in enumerate(["a", "bad", "b", "a"]):
        informer._emit("MODIFIED", _obj(name, i))
    loop.run()
    assert taken == ["b", "a"]  # "a" once, at its latest event's place
