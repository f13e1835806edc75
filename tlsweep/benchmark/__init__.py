"""The benchmark application: what a benchmark *is*, apart from how Hydra runs it.

Cells and their identity (``cells``, ``identity``, ``record``), what a launched job is told
(``jobs``), every on-disk name (``layout``), final seeds (``finals``), the spec and the report
hand-off (``spec``), provenance (``provenance``), ``tlsweep plan`` and ``tlsweep rerun``. The
Hydra sweeper plugin adapts Hydra and Optuna to it and imports only these public modules; this
package imports nothing of the plugin but the search-space grammar ``plan_check`` validates
(``tests/test_imports.py``).
"""
