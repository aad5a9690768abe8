"""Reuse of earlier runs: a task whose fingerprint matches a successful task of an earlier run under the same
reports folder is not executed; its files are hard-linked (or copied) and it is marked ``reused``. A task whose
*result* fingerprint matches (only its notebook's narration changed) is re-rendered instead: the earlier
executed notebook gets the edited markdown cells and is exported again; its document is reused as it is.

A task whose recorded result says it is not reusable (its headline's ``reusable: false``, e.g. coaching whose
cars fell back from a model that timed out) is neither reused nor re-rendered: the next run executes it."""
from __future__ import annotations

import json

import nbformat
import os
import shutil
from pathlib import Path

from kaizenlap.core.atomic import write_text
from kaizenlap.pipeline.kernels import export_html
from kaizenlap.tasks.model import OK_STATUSES, Task


def previous_runs(reports: Path, exclude: Path | None = None) -> list[tuple[Path, dict]]:
    out = []
    for rj in reports.glob("*/run.json"):
        if exclude is not None and rj.parent == exclude or rj.parent.is_symlink():
            continue
        try:
            out.append((rj.parent, json.loads(rj.read_text())))
        except (OSError, json.JSONDecodeError):
            continue
    return sorted(out, key=lambda x: x[1].get("started_utc", ""), reverse=True)


def reusable_record(t: dict) -> bool:
    """False when a task's recorded result is marked as not to be reused (``headline.reusable`` false: a
    result of the moment, such as a model's fallback)."""
    return (t.get("headline") or {}).get("reusable") is not False


def find_reusable(task: Task, previous: list[tuple[Path, dict]]) -> tuple[Path, dict] | None:
    for run_dir, run in previous:
        for t in run.get("tasks", []):
            if t.get("key") != task.key or t.get("fingerprint") != task.fingerprint or \
                    t.get("status") not in OK_STATUSES or not reusable_record(t):
                continue
            src = run_dir / task.target
            if all((src / f).exists() for f in (t["files"].get("ipynb"), t["files"].get("json")) if f) and \
                    t["files"].get("ipynb") and t["files"].get("json"):
                return run_dir, t
    return None


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def reuse(task: Task, run_dir: Path, src_run: Path, prev: dict, html_wanted: bool) -> None:
    src, dst = src_run / task.target, run_dir / task.target
    files = {}
    for kind in ("ipynb", "json"):
        _link_or_copy(src / prev["files"][kind], dst / prev["files"][kind])
        files[kind] = prev["files"][kind]
    if html_wanted:
        name = prev["files"].get("html")
        if name and (src / name).exists():
            _link_or_copy(src / name, dst / name)
            files["html"] = name
        else:  # earlier run had --no-reports: export now from the reused notebook
            files["html"] = export_html(dst / files["ipynb"], dst / f"{task.name}.html").name
    task.status, task.files, task.error = "reused", files, None
    task.duration_s = 0.0
    task.reused_from = prev.get("reused_from") or src_run.name


def find_rerenderable(task: Task, previous: list[tuple[Path, dict]]) -> tuple[Path, dict] | None:
    """The newest earlier successful run of ``task`` that computed the same document (same result
    fingerprint: only the narration differs), with its files present."""
    for run_dir, run in previous:
        for t in run.get("tasks", []):
            if t.get("key") != task.key or t.get("status") not in OK_STATUSES or not reusable_record(t) or \
                    not task.result_fingerprint or t.get("result_fingerprint") != task.result_fingerprint:
                continue
            files, src = t.get("files") or {}, run_dir / task.target
            if files.get("ipynb") and files.get("json") and (src / files["ipynb"]).exists() and \
                    (src / files["json"]).exists():
                return run_dir, t
    return None


def rerender(task: Task, run_dir: Path, src_run: Path, prev: dict, notebook: Path, html_wanted: bool,
             provenance: dict | None = None) -> bool:
    """The earlier executed notebook with the markdown cells of ``notebook`` (the edited source), exported
    again; the document hard-linked. False (nothing written) when the cells do not line up, so the caller
    executes the task instead."""
    src, dst = src_run / task.target, run_dir / task.target
    executed = nbformat.read(str(src / prev["files"]["ipynb"]), as_version=4)
    source = nbformat.read(str(notebook), as_version=4)
    old_md = [c for c in executed.cells if c.cell_type in ("markdown", "raw")]
    new_md = [c for c in source.cells if c.cell_type in ("markdown", "raw")]
    if len(old_md) != len(new_md) or any(a.cell_type != b.cell_type for a, b in zip(old_md, new_md)):
        return False
    for old, new in zip(old_md, new_md):
        old.source = new.source
    name = prev["files"]["ipynb"]
    write_text(dst / name, nbformat.writes(executed))
    _link_or_copy(src / prev["files"]["json"], dst / prev["files"]["json"])
    files = {"ipynb": name, "json": prev["files"]["json"]}
    if html_wanted:
        files["html"] = export_html(dst / name, dst / f"{task.name}.html", nb=executed,
                                    provenance=provenance).name
    task.status, task.files, task.error = "reused", files, None
    task.duration_s = 0.0
    task.reused_from = prev.get("reused_from") or src_run.name
    task.rerendered = True
    return True


def carry_reports(tasks: list[Task], run_dir: Path, reports: Path, html_wanted: bool) -> list[Task]:
    """For a subset run (``--races``/``--engines``): the previous ``latest`` run's successful tasks that this
    run did not plan, linked into this run's folder (status ``reused``, ``carried``), so ``reports/latest``
    still holds the whole season while showing what this run recomputed. Returns those tasks."""
    latest = reports / "latest"
    try:
        prev_dir = latest.resolve(strict=True)
        prev = json.loads((prev_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return []
    if prev_dir == run_dir.resolve():
        return []
    planned = {t.key for t in tasks}
    fields = set(Task.__dataclass_fields__)
    out = []
    for rec in prev.get("tasks", []):
        if rec.get("key") in planned or rec.get("status") not in OK_STATUSES or not (rec.get("files") or {}).get("json"):
            continue
        task = Task(**{k: v for k, v in rec.items() if k in fields})
        try:
            reuse(task, run_dir, prev_dir, rec, html_wanted and bool(rec["files"].get("html")))
        except OSError:
            continue
        task.carried = True
        out.append(task)
    return out
