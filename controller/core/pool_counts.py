"""How many addresses each pool holds (a VIPPool's status.allocated and the addresses metric)."""

from __future__ import annotations

import collections
import itertools
import operator
from collections.abc import Sequence

from controller.core.ipam import Assignment

_TEXT, _POOLS, _POOL = operator.attrgetter("text"), operator.attrgetter("pools"), operator.itemgetter(0)


def held(assignments: Sequence[Assignment]) -> dict[str, int]:
    """Addresses held, by pool name; one shared address counts once. Each address by its text
    (canonical: one text per address), all in C: 20,000 rounds of a Python loop were ~60 ms of
    every reconcile at 10,000 Services."""
    joined = ",".join(filter(None, map(_TEXT, assignments)))
    texts = joined.split(",") if joined else []
    if "%" in joined:  # a scoped IPv6 address counts as the address
        texts = [t.split("%", 1)[0] for t in texts]
    pairs = set(zip(itertools.chain.from_iterable(map(_POOLS, assignments)), texts, strict=True))
    return dict(collections.Counter(map(_POOL, pairs)))
