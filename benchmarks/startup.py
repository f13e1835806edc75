"""Start-up cost of the CLI: ``tlsweep --help`` must not import torch, MONAI, MLflow or Optuna.

Prints the median wall time of ``tlsweep --help`` next to a bare ``python -c pass`` (the ratio
shows what tlsweep and Hydra add) and the heavy modules that were imported. Target: under 1 s.

    .venv/bin/python benchmarks/startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HEAVY = ("torch", "monai", "mlflow", "optuna", "sklearn", "pandas", "scipy")
PROBE = (
    "import sys\nsys.argv = ['tlsweep', '--help']\nfrom tlsweep.cli import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
)


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "tlsweep.cli", "--help"]
    bare = [sys.executable, "-c", "pass"]
    times = {"tlsweep --help": [], "python -c pass": []}
    for _ in range(args.repeats):  # interleaved, so noise hits both
        times["tlsweep --help"].append(wall(cli))
        times["python -c pass"].append(wall(bare))
    heavy = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    imported = heavy.stdout.strip().rsplit("HEAVY=", 1)[-1] or "none"
    help_s, bare_s = (statistics.median(v) for v in times.values())
    print(f"{'command':18}{'median s':>10}")
    for name, values in times.items():
        print(f"{name:18}{statistics.median(values):10.3f}")
    print(
        f"ratio tlsweep/python: {help_s / bare_s:.1f}   tlsweep --help: {help_s:.2f} s "
        f"(target < 1 s)   heavy modules imported: {imported}"
    )


if __name__ == "__main__":
    main()
