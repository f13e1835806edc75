"""Experiment tracking: the ``RunTracker`` protocol, and MLflow (the only importer of mlflow)."""
