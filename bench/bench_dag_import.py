"""Benchmark: how long each DAG file takes to import, as Airflow's DAG processor parses it.

    .venv/bin/python bench/bench_dag_import.py [--config infra/trust.yaml] [--academies 70]

Each file is parsed by a fresh ``DagBag`` in its own process, with the warehouse URL pointing
at an unroutable address so any database or network access at import time would fail (the DAG
integrity test checks the same files import cleanly). ``--academies N`` writes a trust config of
N academies (copies of the config's first) to show how parse time grows with the trust. Target:
each file under 1 s. Prints, per file, the DAG processor's own parse time and the DAG count.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from trustdata.config.settings import PROJECT_ROOT

PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk  # loaded before parsing, as in the DAG processor
bags = [DagBag(dag_folder=sys.argv[1]) for _ in range(2)]
print(json.dumps({
    "seconds": [sum(s.duration.total_seconds() for s in b.dagbag_stats) for b in bags],
    "dags": len(bags[0].dags),
    "errors": sorted(bags[0].import_errors),
}))
"""


def scaled_config(source: Path, academies: int, folder: Path) -> Path:
    trust = yaml.safe_load(source.read_text())
    first = trust["academies"][0]
    trust["academies"] = [
        {**first, "id": f"academy_{n:03d}", "urn": f"{990100 + n}", "name": f"Academy {n}"}
        for n in range(academies)
    ]
    path = folder / "trust.yaml"
    path.write_text(yaml.safe_dump(trust))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, default=PROJECT_ROOT / "infra" / "trust.yaml")
    parser.add_argument("--academies", type=int, default=0, help="0: the config as it is")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = (
            scaled_config(args.config, args.academies, Path(tmp)) if args.academies else args.config
        )
        env = dict(os.environ)
        env.update(
            AIRFLOW_HOME=tmp,
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
            AIRFLOW__CORE__UNIT_TEST_MODE="True",
            TRUSTDATA_TRUST_CONFIG=str(config),
            TRUSTDATA_WAREHOUSE_URL="postgresql+psycopg://nobody@192.0.2.1:1/none",
            PYTHONPATH=str(PROJECT_ROOT / "dags"),
        )
        academies = len(yaml.safe_load(Path(config).read_text())["academies"])
        print(f"trust config: {academies} academies")
        print("first: the file's first parse in a process (its imports included); again: a")
        print("re-parse, as the DAG processor does every few minutes")
        print(f"{'DAG file':<22}{'first s':>9}{'again s':>9}{'DAGs':>6}")
        for path in sorted((PROJECT_ROOT / "dags").glob("*.py")):
            output = subprocess.run(
                [sys.executable, "-c", PROBE, str(path)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=300,
            ).stdout
            result = json.loads(output.strip().splitlines()[-1])
            if result["errors"]:
                print(f"{path.name:<22} import errors: {result['errors']}")
            first, again = result["seconds"]
            print(f"{path.name:<22}{first:>9.3f}{again:>9.3f}{result['dags']:>6}")


if __name__ == "__main__":
    main()
