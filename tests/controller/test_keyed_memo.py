"""The compile cache's keyed memo (controller/core/compile_cache.py): a value is reused only while
its inputs are what it was made from, and an entry lives only while compiles use it or carry it."""

from __future__ import annotations

from controller.core.compile_cache import KeyedMemo


def test_roll_keeps_what_the_last_compile_used_and_carry_keeps_what_it_did_not_look_up() -> None:
    memo: KeyedMemo[str] = KeyedMemo()
    for name in ("a", "b", "c"):
        memo.get(name, 1, lambda name=name: name)
    memo.roll()  # compile 2 uses a, carries b, forgets c
    memo.get("a", 1, lambda: "a2")
    memo.carry(["b", "missing"])
    memo.roll()
    assert memo.peek("a") == (1, "a") and memo.peek("b") == (1, "b")
    assert memo.peek("c") is None and memo.peek("missing") is None
