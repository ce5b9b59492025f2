"""DAG integrity: every DAG file imports cleanly, with an owner, retries, tags and docs.

Parsed in a subprocess with the quick start's Airflow settings, as the DAG processor would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from trustdata.config.settings import PROJECT_ROOT

PROBE = """
import json, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder="{dags}")
print(json.dumps({{
    "seconds": time.perf_counter() - started,
    "errors": {{k: v.splitlines()[-1] for k, v in bag.import_errors.items()}},
    "dags": {{
        dag_id: {{
            "tags": sorted(dag.tags),
            "doc": bool(dag.doc_md),
            "tasks": {{t.task_id: [t.owner, t.retries] for t in dag.tasks}},
        }}
        for dag_id, dag in bag.dags.items()
    }},
}}))
"""


def parse_dags(tmp_path: Path) -> dict:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(tmp_path),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
        TRUSTDATA_TRUST_CONFIG=str(PROJECT_ROOT / "infra" / "trust.yaml"),
        # Any attempt to reach a database or the network at import time fails loudly.
        TRUSTDATA_WAREHOUSE_URL="postgresql+psycopg://nobody@192.0.2.1:1/none",
        PYTHONPATH=str(PROJECT_ROOT / "dags"),
        TRUSTDATA_TASK_RETRIES="2",
    )
    output = subprocess.run(
        [sys.executable, "-c", PROBE.format(dags=PROJECT_ROOT / "dags")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def test_every_dag_imports_with_owner_retries_tags_and_docs(tmp_path: Path) -> None:
    parsed = parse_dags(tmp_path)
    assert parsed["errors"] == {}
    assert set(parsed["dags"]) == {
        "academy_oakfield",
        "academy_ashbrook",
        "academy_elmstead",
        "academy_yewtree",
        "warehouse_build",
        "reconcile",
    }
    for dag_id, dag in parsed["dags"].items():
        assert "trustdata" in dag["tags"], dag_id
        assert dag["doc"], dag_id
        for task_id, (owner, retries) in dag["tasks"].items():
            assert owner == "data-team", (dag_id, task_id)
            assert retries >= 1, (dag_id, task_id)
    assert set(parsed["dags"]["reconcile"]["tasks"]) == {
        f"reconcile_{a}" for a in ("oakfield", "ashbrook", "elmstead", "yewtree")
    }
    oakfield = parsed["dags"]["academy_oakfield"]
    assert {"hub:north", "mis:wonde"} <= set(oakfield["tags"])
    assert set(oakfield["tasks"]) == {
        "prepare",
        "land_pupils",
        "audit_pupils",
        "publish_pupils",
        "land_enrolments",
        "audit_enrolments",
        "publish_enrolments",
        "land_attendance",
        "audit_attendance",
        "publish_attendance",
        "land_deletions",
        "audit_deletions",
        "publish_deletions",
        "quality_docs",
    }
