"""A run's tasks: :class:`Task` (one notebook execution), :class:`TaskError` (why one failed) and
:class:`RunResult`."""
from __future__ import annotations

import dataclasses
from pathlib import Path

OK_STATUSES = ("ok", "reused")


class TaskError(dict):
    """Why a task failed, as recorded in ``run.json`` and the store's run document: ``cell_index`` and
    ``exec_count`` of the failing cell (None when no cell was running), ``ename``, ``evalue`` (at most 2000
    characters) and the cell's ``source`` (at most 1000). A dict, so it is JSON as it stands."""

    def __init__(self, *, ename: str, evalue: str = "", cell_index: int | None = None,
                 exec_count: int | None = None, source: str = "") -> None:
        super().__init__(cell_index=cell_index, exec_count=exec_count, ename=str(ename),
                         evalue=str(evalue or "")[:2000], source=str(source or "")[:1000])

    @classmethod
    def from_exception(cls, exc: BaseException | str, ename: str | None = None) -> "TaskError":
        if isinstance(exc, BaseException):
            return cls(ename=ename or type(exc).__name__, evalue=str(exc))
        return cls(ename=ename or "Error", evalue=str(exc))

    @property
    def where(self) -> str:
        """``cell [n] `` / ``cell #i `` / empty: the cell that failed, for one-line messages."""
        if self.get("exec_count") is not None:
            return f"cell [{self['exec_count']}] "
        if self.get("cell_index") is not None:
            return f"cell #{self['cell_index']} "
        return ""


@dataclasses.dataclass
class Task:
    key: str                      # "<target>/<name>", e.g. "barber-r1/composite", "barber/weather_track"
    kind: str                     # race | track
    target: str                   # race_id or track_id
    name: str                     # the task kind (engine registry): composite | ... | weather_track
    engine: str                   # the engine module
    notebook: str                 # notebook file name under notebooks/
    parameters: dict
    race_ids: list[str]
    fingerprint: str = ""
    fingerprint_parts: dict = dataclasses.field(default_factory=dict)   # what the fingerprint covers
    result_fingerprint: str = ""  # the fingerprint without the notebook's narration: what readers depend on
    status: str = "pending"       # ok | reused | failed
    duration_s: float | None = None
    files: dict = dataclasses.field(default_factory=dict)
    error: dict | None = None     # a TaskError
    headline: dict = dataclasses.field(default_factory=dict)
    reused_from: str | None = None
    carried: bool = False         # linked from the previous latest run by a subset run (not planned here)
    rerendered: bool = False      # reused, its report re-rendered with the notebook's edited narration
    after: list[str] = dataclasses.field(default_factory=list)   # keys of the tasks it reads
    worker: dict = dataclasses.field(default_factory=dict)      # who executed it (pid, kernel, mode)

    def record(self) -> dict:
        plain = dataclasses.replace(self, error=dict(self.error) if self.error is not None else None)
        return dataclasses.asdict(plain)

    def fail(self, error: TaskError) -> None:
        self.status, self.error = "failed", error


@dataclasses.dataclass
class RunResult:
    run_id: str
    run_dir: Path
    tasks: list[Task]
    exit_code: int
    wall_s: float

    @property
    def failed(self) -> list[Task]:
        return [t for t in self.tasks if t.status == "failed"]

    def counts(self) -> dict[str, int]:
        out = {"ok": 0, "reused": 0, "failed": 0}
        for t in self.tasks:
            out[t.status] = out.get(t.status, 0) + 1
        return out


def where(e: dict | None) -> str:
    return TaskError.where.fget(e or {})   # works on a plain dict read back from run.json


def first_line(text) -> str:
    return str(text or "").strip().splitlines()[0][:300] if str(text or "").strip() else ""
