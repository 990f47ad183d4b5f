"""Fixtures of the tenancy and hostile-input suite: the controller suite's API server,
simulator and controller fixtures."""

from tests.controller.conftest import cluster, dump_log, firewall_object, ns, run_controller, sim  # noqa: F401
