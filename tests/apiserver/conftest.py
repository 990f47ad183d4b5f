"""Load the API server fixtures for this folder even when the top conftest does not."""

import pytest

PLUGIN = "tests.apiserver.fixtures"


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)
