"""The benchmark application: what a job of a benchmark is told, and (growing) its cells,
identity, layout and provenance. The Hydra sweeper plugin adapts Hydra to it; this package never
imports the plugin."""
