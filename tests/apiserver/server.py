"""The test API server harness: controller/kapilite.py (the demo needs it without tests/).

This module is an alias of it, so the tests' imports and monkeypatches reach the same objects.
"""

import sys

from controller import kapilite

sys.modules[__name__] = kapilite
