"""python -m dashboard.sources.simulator: the load generator."""
import sys

from dashboard.sources.simulator.publisher import main

sys.exit(main())
