"""Transfer-learning methods: one file per method, losses as pure functions."""
