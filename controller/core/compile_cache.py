"""What one compile may reuse from the previous one, so that a change to one object in a big
estate does not re-parse and rebuild every other.

Each memo is generational: an entry is kept only while the compile that follows still uses it
(`roll`), so nothing outlives the objects it was made from. Nothing is reused on trust:
- `BodyMemo`: the result of a pure function of one object's body, found again only for the very
  same body object (`is`). The index replaces a body whenever its object changes and never edits
  one in place, so the same body means the same content.
- `KeyedMemo`: a value per name, reused only when every input it was made from compares equal
  (`==`) to this compile's inputs.
A compile without a cache (offline tools, tests) does the same work from scratch; the
compiler's results with and without one are identical (tests/controller/test_compile_cache.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from controller.core.snapshot import Body, ref_of

T = TypeVar("T")


class Same:
    """A key part equal only to the very same object: for raw bodies, where `==` would call a
    changed body equal to the old one (1 == True, 443 == 443.0) though it parses differently."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def _identical(a: object, b: object) -> bool:
    """`a is b`, or two tuples of the very same objects."""
    if a is b:
        return True
    if type(a) is not tuple or type(b) is not tuple or len(a) != len(b):
        return False
    return all(x is y for x, y in zip(a, b, strict=True))


class _Generations:
    """One dict of entries, each stamped with the compile that last used it; `roll` drops the rest.
    (Two dicts, this compile's and the last one's, made every compile build a new table per memo
    while the old one lived: ~10 MB of a 10,000-Service reconcile that changed nothing.)"""

    def __init__(self) -> None:
        self._d: dict[Any, tuple[Any, Any, int]] = {}
        self._gen = 0
        self.hits = self.misses = 0

    def roll(self) -> None:
        gen, d = self._gen, self._d
        stale = [k for k, e in d.items() if e[2] != gen]
        if len(stale) * 2 > len(d):
            self._d = {k: e for k, e in d.items() if e[2] == gen}  # a smaller table, not a sparse one
        else:
            for k in stale:
                del d[k]
        self._gen = gen + 1

    def clear(self) -> None:
        self._d = {}


class BodyMemo(_Generations, Generic[T]):
    def get(self, body: object, fn: Callable[[Any], T]) -> T:
        key, gen = id(body), self._gen
        entry = self._d.get(key)
        if entry is not None and entry[0] is body:  # the entry holds `body`: its id is not reused
            self.hits += 1
            if entry[2] != gen:
                self._d[key] = (body, entry[1], gen)
            return entry[1]  # type: ignore[no-any-return]
        self.misses += 1
        value = fn(body)
        self._d[key] = (body, value, gen)
        return value

    def alias(self, old: object, new: object) -> None:
        """`new` is found where `old` was, and `old` is let go: for a body replaced by one that the
        memo's function reads the same (the caller's judgement: only what it never reads moved)."""
        entry = self._d.get(id(old))
        if entry is not None and entry[0] is old:
            del self._d[id(old)]
            self._d[id(new)] = (new, entry[1], entry[2])

    def forget(self, body: object) -> Any:
        """`body` will not be asked for again (its object moved on, or is gone): let it go. Returns
        the value it had, if any."""
        entry = self._d.get(id(body))
        if entry is not None and entry[0] is body:
            del self._d[id(body)]
            return entry[1]
        return None


class KeyedMemo(_Generations, Generic[T]):
    def get(self, name: Hashable, inputs: object, fn: Callable[[], T]) -> T:
        gen = self._gen
        entry = self._d.get(name)
        if entry is not None and entry[0] == inputs:
            self.hits += 1
            if entry[2] != gen:
                # Its inputs as they are when they are the very same objects (not only equal);
                # else this compile's, so that nothing older than them is held by the entry.
                self._d[name] = (entry[0] if _identical(entry[0], inputs) else inputs, entry[1], gen)
            return entry[1]  # type: ignore[no-any-return]
        self.misses += 1
        value = fn()
        self._d[name] = (inputs, value, gen)
        return value

    def carry(self, names: Iterable[Hashable]) -> None:
        """Keep these names' entries for the next compile without looking them up (their owner's
        whole result was reused, a level up)."""
        d, gen = self._d, self._gen
        for n in names:
            e = d.get(n)
            if e is not None and e[2] != gen:
                d[n] = (e[0], e[1], gen)

    def peek(self, name: Hashable) -> tuple[object, T] | None:
        """(inputs, value) last made or found for `name`, whatever this compile's inputs are."""
        e = self._d.get(name)
        return None if e is None else (e[0], e[1])

    def stash(self, name: Hashable, inputs: object, value: T) -> None:
        """Offer `value` to the next compile under `name` (`find`); let go at its end unless found."""
        self._d[name] = (inputs, value, self._gen - 1)

    def find(self, name: Hashable, inputs: Callable[[], object]) -> T | None:
        """The value stashed under `name` when its inputs equal `inputs()` (made only when there is
        one to compare with); None when there is none. Found or not, the stash is taken: whoever
        finds it keeps the value from then on (a body memo), and the echo of a burst's status writes
        stashed 20,000 parses that, kept here too, lived until the compile after next."""
        entry = self._d.pop(name, None)
        if entry is None or entry[0] != inputs():
            self.misses += 1
            return None
        self.hits += 1
        return entry[1]  # type: ignore[no-any-return]


class StateMemo(Generic[T]):
    """A value per name that its user reads back (`peek`) to make the next one from, in parts it
    counts itself as reused (`hits`) or made (`misses`); generational like the others."""

    def __init__(self) -> None:
        self._old: dict[Hashable, T] = {}
        self._new: dict[Hashable, T] = {}
        self.hits = self.misses = 0

    def peek(self, name: Hashable) -> T | None:
        return self._new.get(name) or self._old.get(name)

    def put(self, name: Hashable, value: T) -> None:
        self._new[name] = value

    def roll(self) -> None:
        self._old, self._new = self._new, {}

    def clear(self) -> None:
        self._old, self._new = {}, {}


@dataclass
class CompileCache:
    """Owned by one long-lived caller (the operator's reconciler); used by one compile at a time."""

    services: BodyMemo[Any] = field(default_factory=BodyMemo)
    # The parse of a body the index replaced, by ref, for its successor if that reads the same
    # but for its status (`forget`): kept only for replaced bodies, not beside every parse.
    service_parts: KeyedMemo[Any] = field(default_factory=KeyedMemo)
    crs: BodyMemo[Any] = field(default_factory=BodyMemo)
    cr_parts: KeyedMemo[Any] = field(default_factory=KeyedMemo)  # likewise, for NATRules and SecurityPolicies
    targets: KeyedMemo[Any] = field(default_factory=KeyedMemo)
    nat_rules: KeyedMemo[Any] = field(default_factory=KeyedMemo)
    policies: KeyedMemo[Any] = field(default_factory=KeyedMemo)
    vips: KeyedMemo[Any] = field(default_factory=KeyedMemo)
    publications: KeyedMemo[Any] = field(default_factory=KeyedMemo)
    namespaces: StateMemo[Any] = field(default_factory=StateMemo)  # a namespace's rules, in runs (rule_parts.py)

    _stable: dict[str, object] = field(default_factory=dict)
    ipam: Any = None  # the last allocation's ipam_delta.Last
    reports: dict[Any, Any] = field(default_factory=dict)  # ref -> the last compile's Report
    _refs: tuple[frozenset[Any], list[Any]] = (frozenset(), [])

    def sorted_refs(self, refs: set[Any]) -> list[Any]:
        """sorted(refs), the last compile's list while the set is the same."""
        known, order = self._refs
        if refs != known:
            order = sorted(refs)
            self._refs = (frozenset(refs), order)
        return order

    def stable(self, name: str, value: T) -> T:
        """`value`, or the equal value the previous compile had: keys made from it then compare
        by identity, without a deep comparison per object."""
        old = self._stable.get(name)
        if old is not None and old == value:
            return old  # type: ignore[return-value]
        self._stable[name] = value
        return value

    _pool_of: tuple[object, dict[Any, Any]] = (None, {})

    def pool_of(self, pools: object) -> dict[Any, Any]:
        """Which pool each address is in, found by earlier compiles while the pools compare equal
        (a lookup per address per compile; forgotten past 2**17 addresses)."""
        known, found = self._pool_of
        if known != pools or len(found) >= 1 << 17:
            found = {}
            self._pool_of = (pools, found)
        return found

    def _memos(self) -> tuple[BodyMemo[Any] | KeyedMemo[Any] | StateMemo[Any], ...]:
        return (self.services, self.service_parts, self.crs, self.cr_parts, self.targets, self.nat_rules,
                self.policies, self.vips, self.publications, self.namespaces)

    last: tuple[int, int] = (0, 0)  # (reused, made) by the last compile, over every memo
    _total: tuple[int, int] = (0, 0)

    def roll(self) -> None:
        """After a compile: keep what it used, drop the rest."""
        for m in self._memos():
            m.roll()
        # A new body is counted by the keyed memo its parse falls back to (its spec may be reused).
        total = (sum(m.hits for m in self._memos()),
                 sum(m.misses for m in self._memos() if not isinstance(m, BodyMemo)))
        self.last = (total[0] - self._total[0], total[1] - self._total[1])
        self._total = total

    def alias(self, old: object, new: object) -> None:
        """A body replaced by one that parses the same (controller/runtime/index.py `_same`): its
        parse is found for the new body, and the old one is no longer held."""
        self.services.alias(old, new)
        self.crs.alias(old, new)

    def forget(self, body: object) -> None:
        """A body the index no longer holds (replaced by one that reads differently, or removed):
        its parse is not found again, and the body is not held for it. Its parse is offered by ref
        to the next compile, taken only by a successor whose spec is the very same object and whose
        metadata reads the same (`parse_inputs`): the echo of a status bmlb wrote."""
        for memo, parts in ((self.services, self.service_parts), (self.crs, self.cr_parts)):
            value = memo.forget(body)
            if value is not None:
                parts.stash(ref_of(body), parse_inputs(body), value[:2])

    def clear(self) -> None:
        """Forget everything (before a compile that will reuse little: its old and new values
        would otherwise be alive together, at the peak of memory)."""
        for m in self._memos():
            m.clear()
        self._stable.clear()
        self._pool_of = (None, {})
        self.ipam = None
        self.reports = {}
        self._refs = (frozenset(), [])

    def stats(self) -> dict[str, tuple[int, int]]:
        """(hits, misses) per memo since the cache was made."""
        names = ("services", "service_parts", "crs", "cr_parts", "targets", "nat_rules", "policies", "vips",
                 "publications", "namespaces")
        return {n: (m.hits, m.misses) for n, m in zip(names, self._memos(), strict=True)}


_META_READ = ("name", "namespace", "uid", "generation", "creationTimestamp", "labels", "annotations")


def parse_inputs(body: Body) -> tuple[object, ...]:
    """What the parse of a CR or a Service reads besides its status: its kind, its spec (by
    identity: the index keeps one spec object while the spec does not change) and the metadata
    parse_meta reads, as the BLAKE2b digest of its JSON text (types included: 1 == True, and they
    parse differently). A digest, not the text: after the echo of a burst's status writes every
    object has an entry, and the texts of 30,000 objects' labels and annotations were ~6 MB."""
    meta = body.get("metadata")
    if not isinstance(meta, Mapping):
        return (body.get("kind"), Same(body.get("spec")), Same(meta))
    read = {k: meta.get(k) for k in _META_READ}
    try:
        text = json.dumps(read, sort_keys=True, default=repr)
    except (TypeError, ValueError):  # keys that do not sort (never from the API server): by identity
        return (body.get("kind"), Same(body.get("spec")), Same(meta))
    return (body.get("kind"), Same(body.get("spec")), hashlib.blake2b(text.encode(), digest_size=16).digest())
