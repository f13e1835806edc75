"""``tlsweep report``: a benchmark folder → ``benchmark.csv``, statistics, tables, plots, HTML.

``collect`` reads the folder (layout: :mod:`tlsweep.benchmark.layout`), ``stats`` holds the pure
statistics, ``tables`` (per cell), ``aggregate`` (across cells) and ``budget_curve`` (expected
best after k trials) build the tables that ``render`` draws, ``plots`` draws the figures,
``build`` computes a report once and writes every rendering, ``page`` assembles the
self-contained HTML page and ``cli`` is the command. Nothing here imports torch; MLflow is
imported only by ``--mlflow``.
"""
