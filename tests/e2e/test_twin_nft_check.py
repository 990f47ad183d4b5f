"""Every ruleset the twin renders, for any config, is one the kernel accepts (`nft -c`, in a
scratch namespace: nothing is installed). Root only; see rooted.py."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest
from hypothesis import given, settings

from tests.e2e import rooted
from tests.e2e.strategies import INTERFACES, configs, garbled_configs
from tests.e2e.twin import load, ruleset

NS = "tw-check"


@pytest.fixture(scope="module")
def scratch() -> Iterator[str]:
    rooted.require()
    subprocess.run(["ip", "netns", "del", NS], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    yield NS
    subprocess.run(["ip", "netns", "del", NS], check=True)


@settings(max_examples=8 if rooted.IN_VM else 60, deadline=None)  # each nft run costs ~2 s in an emulated VM
@given(xml=configs() | garbled_configs())
def test_the_kernel_accepts_every_rendered_ruleset(scratch: str, xml: str) -> None:
    script = ruleset(load(xml), INTERFACES)

    done = subprocess.run(["ip", "netns", "exec", scratch, "nft", "-c", "-f", "-"], input=script,
                          capture_output=True, text=True, check=False)

    assert done.returncode == 0, f"{done.stderr}\n{script}"
