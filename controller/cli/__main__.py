"""`python -m controller.cli`: the `bmlb` command."""

from controller.cli.app import main

main()
