"""Reuse of earlier runs: a task whose fingerprint matches a successful task of an earlier run under the same
reports folder is not executed; its files are hard-linked (or copied) and it is marked ``reused``."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

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


def find_reusable(task: Task, previous: list[tuple[Path, dict]]) -> tuple[Path, dict] | None:
    for run_dir, run in previous:
        for t in run.get("tasks", []):
            if t.get("key") != task.key or t.get("fingerprint") != task.fingerprint or \
                    t.get("status") not in OK_STATUSES:
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
