"""Packaged Hydra configs. Importing this package registers the structured schemas."""

from tlsweep.schemas import register_configs

register_configs()
