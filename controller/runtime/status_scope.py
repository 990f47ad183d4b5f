"""Which objects a reconcile's status passes look at. At 10,000 Services a pass over all 30,000
objects (their inputs gathered, the memo asked) took ~0.15 s of every one-Service change, though
all but a few were found current. An object found current last time (controller/core/status.py,
StatusMemo) stays current until its body is replaced (the index's journal), its report or problems
change (the compile says which), or its Firewall's outcome moves in a way its FirewallSynced
condition reads: only those, and the objects not found current, are looked at. Whenever it is
not sure (a burst, an emptied cache, a reconcile that failed, a journal that overflowed) a pass
looks at everything, exactly as before; the updates are the same either way
(tests/controller/test_status_scope.py)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Set

from controller.core.compiler import Compiled
from controller.core.conditions import FirewallOutcome
from controller.core.problems import ObjectRef, Problem

KINDS = frozenset({"Service", "VIPPool", "NATRule", "SecurityPolicy"})
_FIREWALL_KINDS = frozenset({"NATRule", "SecurityPolicy"})  # whose conditions read the outcome


class StatusScope:
    def __init__(self) -> None:
        self._pending: set[ObjectRef] = set()  # looked at by the next pass of their kind
        self._everything: set[str] = set(KINDS)  # kinds whose next pass looks at every object
        self._problems: Mapping[ObjectRef, tuple[Problem, ...]] = {}
        self._outcomes: dict[str, FirewallOutcome] = {}  # as the last pass of _FIREWALL_KINDS saw them

    def reset(self) -> None:
        """Forget what is known (a reconcile failed half-way): every next pass looks at everything."""
        self._pending = set()
        self._everything = set(KINDS)
        self._problems = {}
        self._outcomes = {}

    def note_bodies(self, refs: Set[ObjectRef] | None) -> None:
        """Objects whose body was replaced or removed (None: unknown which)."""
        if refs is None:
            self._everything |= KINDS
        else:
            self._pending |= refs

    def note_compile(self, compiled: Compiled) -> None:
        """A compile's results, right after it: what moved since the one before."""
        if compiled.changed is None:
            self._everything |= KINDS
        else:
            self._pending |= compiled.changed
        new, old = compiled.problems_by_ref, self._problems
        self._pending.update(r for r in new.keys() | old.keys() if new.get(r) != old.get(r))
        self._problems = new

    def refs(self, kinds: tuple[str, ...], *, live: Callable[[str], set[ObjectRef]], known: Collection[ObjectRef],
             compiled: Compiled, outcomes: Mapping[str, FirewallOutcome]) -> set[ObjectRef] | None:
        """The objects of `kinds` a pass must look at; None: every one. `live`: an index's objects of
        a kind; `known`: the objects the memo found current."""
        wanted = set(kinds)
        moved = self._outcome_moved(compiled, outcomes) if wanted & _FIREWALL_KINDS else set()
        mine = {r for r in self._pending if r.kind in wanted}
        self._pending -= mine
        if moved is None or wanted & self._everything:
            self._everything -= wanted
            return None
        for kind in kinds:
            mine |= live(kind).difference(known)  # not found current last time (VIPPools never are)
        return mine | moved

    def _outcome_moved(self, compiled: Compiled, outcomes: Mapping[str, FirewallOutcome]) -> set[ObjectRef] | None:
        """The objects whose FirewallSynced condition the outcomes' moves may change; None: all."""
        old, self._outcomes = self._outcomes, dict(outcomes)
        quiet: set[str] = set()  # only the message moved: it reaches objects that own nothing
        for fw in old.keys() | outcomes.keys():
            was, now = old.get(fw), outcomes.get(fw)
            if was is now or was == now:
                continue
            if was is None or now is None or not (was.ok and now.ok) or _shape(was) != _shape(now):
                return None
            if was.message != now.message:
                quiet.add(fw)
        if not quiet:
            return set()
        return {r.ref for r in compiled.reports
                if not r.firewall_objects and r.ref.kind in _FIREWALL_KINDS and dict(r.fields).get("firewall") in quiet}


def _shape(o: FirewallOutcome) -> tuple[object, ...]:
    """All of an outcome that an object owning firewall objects reads (conditions.firewall_synced)."""
    return (o.ok, o.reason, o.refused, o.failed_objects)
