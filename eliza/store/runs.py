"""Run logs: each agent turn writes `run_event` rows (started, then completed/error) and one
`useModel:<TYPE>` row per model call into `logs`; runs are aggregated from them as
ElizaOS does, so the runs routes answer as the original's."""

from __future__ import annotations

import json
from typing import Any

from ..clock import iso
from .protocols import Transaction

_ENDED = frozenset({"completed", "timeout", "error"})
BULK = 5000


def insert_log(
    db: Transaction,
    *,
    log_id: str,
    agent_id: str,
    entity_id: str,
    room_id: str | None,
    type_: str,
    body: dict[str, Any],
    created_at: int,
    run_id: str | None,
) -> None:
    db.execute(
        "INSERT INTO logs (id, created_at, agent_id, entity_id, room_id, type, body, run_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [log_id, created_at, agent_id, entity_id, room_id, type_, json.dumps(body), run_id],
    )


def _logs(db: Transaction, sql: str, args: list[Any]) -> list[dict[str, Any]]:
    rows = list(db.query(sql, args))
    for row in rows:
        row["body"] = json.loads(row["body"])
    return rows


def _summaries(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda r: r["created_at"]):
        body = row["body"]
        run_id = body.get("runId") or row.get("run_id")
        if not run_id:
            continue
        run = runs.setdefault(run_id, {
            "runId": run_id, "status": "started", "startedAt": None, "endedAt": None,
            "durationMs": None, "messageId": None, "roomId": None, "entityId": None,
            "metadata": {}, "counts": {"actions": 0, "modelCalls": 0, "errors": 0,
                                       "evaluators": 0},
        })
        for key in ("messageId", "roomId", "entityId"):
            run[key] = run[key] or body.get(key)
        run["metadata"].update(body.get("metadata") or {})
        status = body.get("status")
        if status == "started":
            run["startedAt"] = body.get("startTime", row["created_at"])
        elif status in _ENDED:
            run["status"] = status
            run["endedAt"] = body.get("endTime", row["created_at"])
            if run["startedAt"] is not None:
                run["durationMs"] = run["endedAt"] - run["startedAt"]
            if body.get("error"):
                run["counts"]["errors"] += 1
    return runs


def _count(run: dict[str, Any], row: dict[str, Any]) -> None:
    counts = run["counts"]
    type_ = row["type"]
    body = row["body"]
    if type_ == "action":
        counts["actions"] += 1
        result = body.get("result")
        if isinstance(result, dict) and result.get("success") is False:
            counts["errors"] += 1
        counts["modelCalls"] += int(body.get("promptCount") or 0)
    elif type_ == "evaluator":
        counts["evaluators"] += 1
    elif type_.startswith("useModel:"):
        counts["modelCalls"] += 1
    elif type_ == "embedding_event" and body.get("status") == "failed":
        counts["errors"] += 1


def list_runs(
    db: Transaction,
    agent_id: str,
    *,
    room_id: str | None,
    status: str | None,
    limit: int,
    since: int | None,
    until: int | None,
) -> dict[str, Any]:
    where = ["agent_id = ?", "type = 'run_event'"]
    args: list[Any] = [agent_id]
    if room_id:
        where.append("room_id = ?")
        args.append(room_id)
    if since is not None:
        where.append("created_at >= ?")
        args.append(since)
    if until is not None:
        where.append("created_at <= ?")
        args.append(until)
    args.append(limit * 3)
    events = _logs(
        db,
        f"SELECT * FROM logs WHERE {' AND '.join(where)} ORDER BY created_at DESC LIMIT ?",
        args,
    )
    runs = list(_summaries(events).values())
    if status and status != "all":
        runs = [r for r in runs if r["status"] == status]
    runs.sort(key=lambda r: r["startedAt"] or 0, reverse=True)
    total = len(runs)
    runs = runs[:limit]
    if runs:
        by_id = {r["runId"]: r for r in runs}
        marks = ",".join("?" for _ in by_id)
        for row in _logs(
            db,
            f"SELECT * FROM logs WHERE agent_id = ? AND run_id IN ({marks})"
            " AND type != 'run_event' LIMIT ?",
            [agent_id, *by_id, BULK],
        ):
            _count(by_id[row["run_id"]], row)
    return {"runs": runs, "total": total, "hasMore": total > limit}


_EVENT_TYPES = {
    "action": "ACTION_COMPLETED",
    "evaluator": "EVALUATOR_COMPLETED",
    "embedding_event": "EMBEDDING_EVENT",
}


def get_run(db: Transaction, agent_id: str, run_id: str) -> dict[str, Any] | None:
    rows = _logs(
        db,
        "SELECT * FROM logs WHERE agent_id = ? AND run_id = ? ORDER BY created_at, rowid",
        [agent_id, run_id],
    )
    if not rows:
        return None
    summary = _summaries([r for r in rows if r["type"] == "run_event"]).get(run_id)
    if summary is None:
        return None
    events: list[dict[str, Any]] = []
    for row in rows:
        body = row["body"]
        if row["type"] == "run_event":
            kind = "RUN_STARTED" if body.get("status") == "started" else "RUN_ENDED"
        elif row["type"].startswith("useModel:"):
            kind = "MODEL_USED"
        else:
            kind = _EVENT_TYPES.get(row["type"], row["type"].upper())
        if row["type"] != "run_event":
            _count(summary, row)
        events.append({"type": kind, "timestamp": row["created_at"], "data": body})
    summary.pop("metadata", None)
    return {"summary": summary, "events": events}


def log_json(row: dict[str, Any]) -> dict[str, Any]:
    """A log row as the logs routes show it (createdAt ISO, as ElizaOS does)."""
    return {"id": row["id"], "createdAt": iso(row["created_at"]), "entityId": row["entity_id"],
            "body": row["body"], "type": row["type"], "roomId": row["room_id"]}
