"""Tests of the transfer-learning methods."""
