"""The built-in simulated lab: just another source. `lab` is the pure simulation, `catalog` its
data, `publisher` puts its messages on a real ZMQ socket in lava-publisher's format (and is the load
generator: python -m dashboard.sources.simulator --help)."""
from dashboard.sources.simulator.lab import DEFAULT_START, SimLab
from dashboard.sources.simulator.publisher import LabPublisher, main, parse_args, to_frames

__all__ = ["DEFAULT_START", "SimLab", "LabPublisher", "main", "parse_args", "to_frames"]
