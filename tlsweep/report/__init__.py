"""``tlsweep report``: a benchmark folder → ``benchmark.csv``, statistics, tables, plots, HTML.

``collect`` reads the folder (layout: ``notes/benchmark_layout.md``), ``stats`` holds the pure
statistics, ``tables`` and ``plots`` render them, ``page`` assembles the self-contained HTML page
and ``cli`` is the command. Nothing here imports torch; MLflow is imported only by ``--mlflow``.
"""
