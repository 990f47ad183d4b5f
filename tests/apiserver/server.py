"""The test API server harness: controller/cli/kapilite.py (the demo needs it without tests/).

This module is an alias of it, so the tests' imports and monkeypatches reach the same objects.
"""

import sys

from controller.cli import kapilite

sys.modules[__name__] = kapilite
