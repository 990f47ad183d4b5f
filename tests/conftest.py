"""Test tree root: load the API server fixtures for every folder that needs them."""

pytest_plugins = ["tests.apiserver.fixtures"]
