"""The one training loop, evaluation, metrics and checkpoints."""
