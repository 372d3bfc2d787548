"""Wall time of one workflow with 1 and with 2 local worker processes, alternating the two sides.

The processes share the machine's cores (``--workers 1``: one process with a thread per core, the
default on up to 8 cores; ``--workers 2``: the cores split between two).

Each run is ``geoseg run`` in its own process (embedded cluster, fresh outputs, overwrite on), so
cluster start-up is included, as a user sees it. Prints each time, the medians and their ratio.

    python benchmarks/scaling.py [--workflow workflows/samples.yaml] [--rounds 2]
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def timed_run(workflow: Path, workers: int) -> float:
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "geoseg",
            "run",
            str(workflow),
            "--workers",
            str(workers),
            "--no-progress",
        ],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def fresh_copy(workflow: Path, out: Path) -> Path:
    """The workflow with outputs in ``out`` and overwrite on, scenes still found where they are."""
    data = yaml.safe_load(workflow.read_text())
    data["scenes"] = [str((workflow.parent / s).resolve()) for s in data["scenes"]]
    data["outputs"] |= {"dir": str(out), "overwrite": True}
    pairs = (data.get("change") or {}).get("pairs")
    if isinstance(pairs, list):
        data["change"]["pairs"] = [
            [str((workflow.parent / p).resolve()) for p in pair] for pair in pairs
        ]
    copy = out.parent / workflow.name
    copy.write_text(yaml.safe_dump(data))
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflow", type=Path, default=ROOT / "workflows" / "samples.yaml")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        workflow = fresh_copy(args.workflow, Path(tmp) / "out")
        for _ in range(args.rounds):
            for workers, runs in times.items():
                runs.append(timed_run(workflow, workers))
                print(f"{workers} worker(s): {runs[-1]:.1f} s", flush=True)
    medians = {w: statistics.median(t) for w, t in times.items()}
    print(
        f"median: 1 worker {medians[1]:.1f} s, 2 workers {medians[2]:.1f} s, "
        f"speed-up {medians[1] / medians[2]:.2f}x"
    )
    results = ROOT / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "scaling.json").write_text(
        json.dumps(
            {"workflow": str(args.workflow), "times_s": times, "median_s": medians}, indent=2
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
