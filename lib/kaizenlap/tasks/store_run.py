"""The pipeline as owner of a run of the results store (``run_pipeline.py run --store URL``)."""
from __future__ import annotations

import time
from pathlib import Path

from kaizenlap.store import begin_run, discard, finish_run, heartbeat, open_store, stage
from kaizenlap.store.publish import carry_failed, carry_forward
from kaizenlap.store.ingest_documents import ingest_documents
from kaizenlap.tasks import record as results
from kaizenlap.tasks.model import OK_STATUSES, Task, TaskError
from kaizenlap.tasks.registry import engine_documents


class StoreRun:
    """The pipeline as owner of a run of the results store: begins it with the ``ingest`` part, writes the
    parts of reused tasks, discards those of failed tasks, keeps the run's heartbeat, publishes it."""

    HEARTBEAT_S = 30.0            # params/pipeline.yaml heartbeat_s overrides it in the pipeline

    def __init__(self, url: str, run_id: str, subset: bool = False) -> None:
        """``subset``: the run recomputes some races or some task kinds only (``run --races``/``--engines``);
        it then carries the active run's other documents forward (:func:`kaizenlap.store.publish.carry_forward`),
        so publishing it never takes the rest of the season away from the app."""
        self.url, self.run_id, self.subset = url, run_id, subset
        self.races: set[str] = set()
        self.store = None
        self.error: str | None = None
        self._beat = time.monotonic()

    def begin(self, races: list, meta: dict) -> dict | None:
        """Open the store, begin the run, write the ``ingest`` part. On failure: ``error`` is set, and
        the run goes on without the store (the notebooks get no store URL)."""
        try:
            self.store = open_store(self.url)
            begin_run(self.store, self.run_id, meta)
            self.races = {r.race_id for r in races}
            return stage(self.store, self.run_id, "ingest", ingest_documents(races), meta={"writer": "pipeline"})
        except Exception as exc:  # the reports are still worth making
            self.error = f"{type(exc).__name__}: {exc}"
            self.store = None
            return None

    def task_done(self, task: Task, run_dir: Path) -> None:
        """A reused task's part is written here, from its recorded document; a failed task's is discarded
        (its notebook may have written some or all of it before failing)."""
        if self.store is None:
            return
        part = results.part_name(task.target, task.name)
        try:
            if task.status == "reused":
                doc, _ = results.load_document(run_dir / task.target / task.files["json"])
                stage(self.store, self.run_id, part, engine_documents(doc["engine"], doc),
                      meta={"writer": "pipeline", "reused_from": task.reused_from})
            elif task.status == "failed":
                discard(self.store, self.run_id, part)
        except Exception as exc:
            if task.status != "failed":
                task.status, task.error = "failed", TaskError(ename="StoreWriteError", evalue=f"{type(exc).__name__}: {exc}")
        self.beat()

    def beat(self) -> None:
        """Keep the run's heartbeat fresh (at most every ``HEARTBEAT_S``), so no other publisher takes it
        for abandoned while long tasks run."""
        if self.store is None or time.monotonic() - self._beat < self.HEARTBEAT_S:
            return
        self._beat = time.monotonic()
        try:
            heartbeat(self.store, self.run_id)
        except Exception:  # a missed beat is not fatal; finish() reports a store that is really gone
            pass

    def finish(self, tasks: list[Task]) -> dict:
        """Publish the run: ``ingest`` and every successful task's part must be there; a task that ran but
        wrote nothing to the store becomes a failed task. Returns what the manifest records."""
        out = {"url": self.url, "run_id": self.run_id, "published": False}
        if self.store is None:
            return {**out, "error": self.error}
        try:
            recorded = {p["part"] for p in self.store.list_parts(self.run_id)}
            for t in tasks:
                part = results.part_name(t.target, t.name)
                if t.status in OK_STATUSES and part not in recorded:
                    t.status = "failed"
                    t.error = TaskError(ename="MissingStoreDocuments",
                                        evalue=f"the notebook ran but wrote no part {part!r} under run "
                                               f"{self.run_id} to {self.url}")
                    discard(self.store, self.run_id, part)
            failed = [{"task": t.key, "race_id": t.target if t.kind == "race" else None, "error": t.error}
                      for t in tasks if t.status == "failed"]
            parts = ["ingest", *(results.part_name(t.target, t.name) for t in tasks if t.status in OK_STATUSES)]
            for extra in sorted(recorded - set(parts)):      # a writer that recorded its part and failed later
                discard(self.store, self.run_id, extra)
            active = (self.store.active() or {}).get("run_id")
            active = active if active != self.run_id else None
            carried = None
            # A failed task's part as the active run serves it is carried first (last complete run wins, and
            # never serves fewer documents than the run it replaces for a reason the user did not choose).
            failed_parts = {results.part_name(t.target, t.name): t.key for t in tasks if t.status == "failed"}
            for_failed = carry_failed(self.store, self.run_id, active, failed_parts) if failed_parts else []
            parts += [r["part"] for r in for_failed if r["carried"]]
            if self.subset and active:
                carried = carry_forward(self.store, self.run_id, active, self.races)
                parts += [p for p in carried["parts"] if p not in parts]
            if for_failed:
                carried = {**(carried or {"from_run": active, "parts": [], "counts": {}}), "for_failed": for_failed}
            run = finish_run(self.store, self.run_id, parts=parts, failed_tasks=failed, carried=carried)
            return {**out, "published": True, "data_version": run["data_version"], "counts": run["counts"],
                    "parts": len(run["parts"]), "failed_tasks": len(failed), "carried": carried,
                    "served_from_earlier_run": [r["task"] for r in for_failed if r["carried"]]}
        except Exception as exc:  # the store keeps serving its previous run
            self.error = f"{type(exc).__name__}: {exc}"
            return {**out, "error": self.error}
        finally:
            self.store.close()


__all__ = ["StoreRun"]
