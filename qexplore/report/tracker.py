"""A stored run logged to an MLflow tracking server: one parent MLflow run per qexplore run and
one child per variant (the optional extra ``qexplore[mlflow]``).

Logging the same qexplore run again (a resumed sweep, a rebuilt report) updates it, never
duplicates it: the MLflow runs are found again by a tag holding a digest of the qexplore run id
(and variant); params are set once (a stored run's provenance does not change); metrics carry
the timestamp of the record they come from, so the server drops an identical point, and a
level re-measured since (a resumed sweep) is a newer point at the same step; tags and artifacts
are overwritten.

Per child: params (recipe name and hash, scheme, versions, hardware, model), metrics per load
level with step = users (``<workload>.<figure>``, with ``_lo``/``_hi`` for the 95 % interval),
per task (``acc.<task>.<metric>``), the headline numbers at the target users; tags (status,
speed and accuracy verdicts, Pareto membership, recommended); the raw per-request parquet. The
parent holds the run's params and tags and ``report.html``, ``pareto.csv``, ``pareto.md`` and
``results.json``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qexplore.errors import HardwareError
from qexplore.report.write import Written
from qexplore.results.pareto import SPEED_FIGURES, VariantRow
from qexplore.results.run import StoredRun, StoredVariant, level_bound

if TYPE_CHECKING:
    from mlflow import MlflowClient

KEY_TAG = "qexplore.key"  # digest of the qexplore run id (and variant): how a run is found again
LEVEL_FIGURES = {**SPEED_FIGURES, "request_tps": "request_tps", "error_rate": "error_rate"}
HEADLINE = ("output_tps", "user_tps_p1", "ttft_ms_p99", "pct_of_bound", "recovery_pct",
            "weights_gb", "capacity_users")
_UNSAFE = re.compile(r"[^\w\-. /]")  # what MLflow refuses in a metric or param name
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def available() -> str | None:
    """None when ``mlflow`` can be imported, else what to run to get it."""
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return "--mlflow needs the mlflow extra: .venv/bin/pip install 'qexplore[mlflow]'"
    return None


def connect(uri: str) -> MlflowClient:
    """A client of the tracking server at ``uri``, checked to answer (exit 3 if not, at once
    rather than after MLflow's minutes of retries)."""
    missing = available()
    if missing:
        raise HardwareError(missing)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # qexplore sends nothing elsewhere
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=uri)
    try:
        client.search_experiments(max_results=1)
    except (MlflowException, OSError) as e:
        raise HardwareError(f"cannot reach the MLflow tracking server at {uri}: {_first(e)}"
                            ) from None
    return client


@dataclass(frozen=True)
class Logged:
    """Where a run was logged: its experiment, parent run and a child run per variant."""

    experiment: str
    parent: str  # MLflow run ids
    children: dict[str, str]  # by variant
    created: int  # MLflow runs created now (0 when the run was logged before)


def log_run(client: MlflowClient, run: StoredRun, written: Written,
            experiment: str | None = None) -> Logged:
    """Log ``run`` (with its reports ``written``) to the server ``client`` talks to, in
    ``experiment`` (default ``qexplore/<recipe name>``); a server that fails midway is exit 3,
    the run is still stored and logging it again completes it."""
    from mlflow.exceptions import MlflowException

    try:
        return _log_run(client, run, written, experiment)
    except (MlflowException, OSError) as e:
        raise HardwareError(
            f"logging run {run.run_id} to MLflow at {client.tracking_uri} failed: {_first(e)} "
            f"(it is stored: `qexplore report {run.run_id} --mlflow URI` logs it again)") from None


def _log_run(client: MlflowClient, run: StoredRun, written: Written,
             experiment: str | None) -> Logged:
    name = experiment or f"qexplore/{run.recipe_name}"
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name)
    created = 0
    parent, new = _find_or_create(client, exp_id, _key(run.run_id), run.run_id, {})
    created += new
    _params(client, parent, _run_params(run))
    rec = written.recommendation
    client.set_tag(parent, "qexplore.status", run.status)
    client.set_tag(parent, "qexplore.recommended", rec.winner or "none")
    client.set_tag(parent, "qexplore.speed_only", str(run.speed_only).lower())
    client.set_tag(parent, "mlflow.note.content",
                   "\n".join([*([run.notice] if run.notice else []), *rec.lines()]))
    for path in written.paths.values():
        client.log_artifact(parent, str(path))
    children = {}
    for row in written.rows:
        v = run.variant(row.variant)
        if v is None:
            continue
        child, new = _find_or_create(client, exp_id, _key(run.run_id, v.name), v.name,
                                     {"mlflow.parentRunId": parent})
        created += new
        _log_variant(client, child, run, v, row, rec.winner == v.name)
        children[v.name] = child
    client.set_terminated(parent, "FINISHED" if run.status == "complete" else "FAILED")
    return Logged(name, parent, children, created)


def _first(e: Exception) -> str:
    """An MLflow error in a few words: the socket's reason when there is one."""
    text = str(e).strip()
    errno = _ERRNO.search(text)
    if errno:
        return errno.group(1).strip()
    return text.splitlines()[0][:300] if text else type(e).__name__


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _find_or_create(client: MlflowClient, exp_id: str, key: str, name: str,
                    tags: dict[str, str]) -> tuple[str, int]:
    found = client.search_runs([exp_id], filter_string=f"tags.`{KEY_TAG}` = '{key}'",
                               max_results=2)
    if found:
        return found[0].info.run_id, 0
    r = client.create_run(exp_id, tags={KEY_TAG: key, **tags}, run_name=name)
    return r.info.run_id, 1


def _run_params(run: StoredRun) -> dict[str, Any]:
    p = run.provenance
    model = p.model or {}
    return {"qexplore_run": run.run_id, "recipe": run.recipe_name, "recipe_hash": run.recipe_hash,
            "target": run.recipe.target, "model": run.recipe.model.named,
            "model_revision": model.get("revision"), "qexplore": p.qexplore,
            "hardware": p.hardware.line() if p.hardware else None,
            **{f"version.{k}": v for k, v in p.versions.items()}}


def _params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    """Set the params not yet set (an MLflow param cannot change)."""
    from mlflow.entities import Param

    have = client.get_run(run_id).data.params
    new = [Param(_safe(k), str(v)) for k, v in params.items()
           if v is not None and _safe(k) not in have]
    if new:
        client.log_batch(run_id, params=new)


def _log_variant(client: MlflowClient, child: str, run: StoredRun, v: StoredVariant,
                 row: VariantRow, recommended: bool) -> None:
    from mlflow.entities import Metric

    _params(client, child, {**_run_params(run), "variant": v.name, "scheme": v.scheme})
    metrics = [Metric(_safe(k), value, ts, step) for k, value, ts, step in _metrics(run, v, row)]
    for i in range(0, len(metrics), 1000):  # MLflow's batch limit
        client.log_batch(child, metrics=metrics[i:i + 1000])
    tags = {"status": v.status, "error": (v.reason or "")[:500], "speed_verdict": row.speed_verdict,
            "accuracy_verdict": row.accuracy_verdict, "pareto": row.pareto,
            "recommended": recommended, "at_users": row.at_users}
    for k, value in tags.items():
        client.set_tag(child, f"qexplore.{k}", _tag(value))
    raws = {Path(lv.raw_path).parent for lv in run.levels
            if lv.variant == v.name and lv.raw_path and Path(lv.raw_path).exists()}
    for folder in sorted(raws):
        client.log_artifacts(child, str(folder), "raw")
    client.set_terminated(child, "FINISHED" if v.ok else "FAILED")


def _metrics(run: StoredRun, v: StoredVariant, row: VariantRow
             ) -> Iterator[tuple[str, float, int, int]]:
    """(key, value, timestamp in ms, step): per level (step = users), per task, the headline
    figures at the target users (step 0). A figure's timestamp is its record's: the same
    record logged again is the same point."""
    for lv in run.levels:
        if lv.variant != v.name or not lv.measured:
            continue
        s = lv.summary
        prefix = lv.workload + (f".rate_{s.rate:g}" if s.rate is not None else "")
        ts = int((lv.recorded_at or run.started_at) * 1000)
        for column, figure in LEVEL_FIGURES.items():
            value = s.value(figure)
            if value is not None:
                yield f"{prefix}.{column}", value, ts, s.concurrency
            ci = s.interval(figure)
            if ci:
                yield f"{prefix}.{column}_lo", ci[0], ts, s.concurrency
                yield f"{prefix}.{column}_hi", ci[1], ts, s.concurrency
        b = level_bound(v, s, lv.workload)
        if b.pct_of_bound is not None:
            yield f"{prefix}.pct_of_bound", b.pct_of_bound, ts, s.concurrency
    if v.eval is not None:
        ts = int(_evaluated_at(run, v) * 1000)
        for task, metrics in v.eval.tasks.items():
            for metric, m in metrics.items():
                if m.value is not None:
                    yield f"acc.{task}.{metric}", m.value, ts, 0
    latest = _latest_record(run)  # what the headline figures (and recovery) rest on
    for column in HEADLINE:
        value = getattr(row, column)
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield column, float(value), latest, 0


def _evaluated_at(run: StoredRun, v: StoredVariant) -> float:
    """When ``v``'s evaluation was written (its results file's time; else the run's start)."""
    raw = v.eval.raw_path if v.eval else None
    return raw.stat().st_mtime if raw is not None and raw.exists() else run.started_at


def _latest_record(run: StoredRun) -> int:
    times = [lv.recorded_at or run.started_at for lv in run.levels]
    times += [_evaluated_at(run, v) for v in run.variants if v.eval]
    return int(max([run.started_at, *times]) * 1000)


def _tag(value: object) -> str:
    """A tag's text: booleans as 'true'/'false', None as ''."""
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name)
