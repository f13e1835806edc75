"""tlsweep: fair, config-driven comparisons of transfer-learning methods."""

__version__ = "0.1.0"
