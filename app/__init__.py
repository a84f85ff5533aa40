"""pscache: a drop-in, open-source Parameters and Secrets Lambda extension."""

__version__ = "0.1.0"
