"""tlsweep's Hydra sweeper: grid, random and Bayesian HPO on Optuna (see ``_impl``)."""

__version__ = "0.1.0"
