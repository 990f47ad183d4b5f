"""The `bmlb` command line: commands (app.py), their rendering and the local development tools
(demo, kapilite, localcluster). Layered on controller.runtime and controller.core."""

from controller.cli.app import main

__all__ = ["main"]
