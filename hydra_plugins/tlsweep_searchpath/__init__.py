"""Puts the user's own config folder on tlsweep's search path (and on no other app's)."""
