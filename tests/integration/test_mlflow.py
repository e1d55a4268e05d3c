"""`--mlflow URI` against a real MLflow tracking server (started here on 127.0.0.1, SQLite
backend): one parent run and one child per variant, metrics per level with step = users,
verdicts as tags, reports and raw records as artifacts; logging again updates, never
duplicates; an unreachable server is exit 3 at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from qexplore.results.store import Store
from qexplore.testing import stored_runs as stored
from qexplore.testing.tracking import QUIET

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra: make setup installs it")
pytestmark = pytest.mark.integration
QEXPLORE = [sys.executable, "-c", "from qexplore.cli.main import run; run()"]
TPS = {"bf16": 10.0, "int8": 15.0}  # per user, at every level


def add_level(store: Store, tmp: Path, variant: str, users: int) -> None:
    raw = tmp / "reports" / "r1" / "raw" / variant / f"short-c{users}-t1.parquet"
    raw.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"output_tokens": [16] * users}).to_parquet(raw)
    store.add_level("r1", variant, "short",
                    stored.level(users, TPS[variant] * users, TPS[variant], 40.0, spread=0.05),
                    str(raw))


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """Run r1: bf16 and int8 (90 of 100 docs right each; int8 1.5× as fast), at 1 and 4
    users."""
    with Store(tmp_path / "s.db") as s:
        stored.add_run(s, "r1", stored.recipe(users=(1, 4, 16), target_users=4))
        for i, (variant, correct) in enumerate((("bf16", 90), ("int8", 90))):
            s.upsert_variant("r1", variant, "baseline" if i == 0 else "W8A8", i, status="ok",
                             eval=stored.evaluation(tmp_path / "eval" / variant, "demo_add_mc",
                                                    correct))
            for users in (1, 4):
                add_level(s, tmp_path, variant, users)
        s.set_run_status("r1", "complete")
    return tmp_path / "s.db"


def report(store: Path, uri: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QEXPLORE, "report", "r1", "--mlflow", uri, "--output",
                           str(store.parent / "reports" / "r1")], capture_output=True, text=True,
                          env={**os.environ, **QUIET, "QEXPLORE_STORE": str(store)},
                          cwd=store.parent, timeout=300)


def runs_of(client: mlflow.MlflowClient) -> tuple[mlflow.entities.Run, list[mlflow.entities.Run]]:
    exp = client.get_experiment_by_name("qexplore/demo")
    every = client.search_runs([exp.experiment_id])
    parents = [r for r in every if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in every]
    children = [r for r in every if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == len(every) - 1
    return parents[0], sorted(children, key=lambda r: r.info.run_name)


def steps(client: mlflow.MlflowClient, run: mlflow.entities.Run, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))


def test_a_run_is_logged_once_and_updated_in_place(mlflow_url: str, store_path: Path) -> None:
    server = mlflow_url
    first = report(store_path, server)
    assert first.returncode == 0, first.stderr
    assert "with 2 variant run(s) (created)" in first.stdout
    client = mlflow.MlflowClient(server)
    parent, children = runs_of(client)
    assert [c.info.run_name for c in children] == ["bf16", "int8"]
    bf16, int8 = children
    assert parent.data.params["recipe"] == "demo" and parent.data.params["recipe_hash"] == "h"
    assert int8.data.params["scheme"] == "W8A8" and int8.data.params["version.vllm"] == "test"
    # per level, step = users: the stored figures (tok/s per user × users)
    assert steps(client, int8, "short.output_tps") == [(1, 15.0), (4, 60.0)]
    assert steps(client, int8, "short.output_tps_lo") == [(1, 15.0 * 0.95), (4, 60.0 * 0.95)]
    assert int8.data.metrics["acc.demo_add_mc.acc"] == 0.9
    # int8: as accurate, 1.5× the slowest-1 % user tok/s with ±5 % intervals: the one to deploy
    assert parent.data.tags["qexplore.recommended"] == "int8"
    assert (int8.data.tags["qexplore.recommended"], bf16.data.tags["qexplore.recommended"]) == (
        "true", "false")
    assert int8.data.tags["qexplore.speed_verdict"] == "faster"
    assert int8.data.tags["qexplore.pareto"] == "true"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "report.html", "pareto.csv", "pareto.md", "results.json"}
    assert {a.path for a in client.list_artifacts(int8.info.run_id, "raw")} == {
        "raw/short-c1-t1.parquet", "raw/short-c4-t1.parquet"}

    again = report(store_path, server)  # a rebuilt report: nothing new
    assert again.returncode == 0, again.stderr
    assert "(updated)" in again.stdout
    parent2, children2 = runs_of(client)
    assert parent2.info.run_id == parent.info.run_id
    assert [c.info.run_id for c in children2] == [c.info.run_id for c in children]
    assert steps(client, children2[1], "short.output_tps") == [(1, 15.0), (4, 60.0)]
    assert len(client.get_metric_history(int8.info.run_id, "acc.demo_add_mc.acc")) == 1

    time.sleep(0.01)
    with Store(store_path) as s:  # the sweep resumed: one more level measured
        add_level(s, store_path.parent, "int8", 16)
    resumed = report(store_path, server)
    assert resumed.returncode == 0, resumed.stderr
    _, children3 = runs_of(client)
    assert steps(client, children3[1], "short.output_tps") == [(1, 15.0), (4, 60.0), (16, 240.0)]


def test_an_unreachable_server_is_exit_3_at_once(store_path: Path) -> None:
    from qexplore.serve.launcher import free_port

    started = time.monotonic()
    r = report(store_path, f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 3, r.stderr
    assert r.stderr.startswith("error: cannot reach the MLflow tracking server at http://127.0.0.1:")
    assert r.stderr.strip().endswith(": Connection refused")
    assert len(r.stderr.strip().splitlines()) == 1
    assert time.monotonic() - started < 60
