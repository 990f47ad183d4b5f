"""Test tree root: load the API server fixtures for every folder that needs them; hypothesis
judges behaviour, never speed (a loaded 2-core CI machine made example deadlines flaky)."""

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.apiserver.fixtures"]

settings.register_profile("bmlb", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("bmlb")
