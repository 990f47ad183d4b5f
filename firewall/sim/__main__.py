import sys

from firewall.sim.server import main

sys.exit(main())
