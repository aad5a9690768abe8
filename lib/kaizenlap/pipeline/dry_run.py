"""``run --dry-run``: what a run would execute and why, without executing anything (the iteration loop's
question "what does this edit cost me?")."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kaizenlap.core.paths import resolve_data
from kaizenlap.core.settings import llm_setting
from kaizenlap.ingest.loader import load
from kaizenlap.pipeline import reuse
from kaizenlap.tasks import plan as planner
from kaizenlap.tasks.model import OK_STATUSES


@dataclass
class Verdict:
    key: str
    action: str                 # "reuse" | "re-render" (only the narration changed) | "run"
    reasons: list[str]
    reused_from: str | None = None


def dry_run(data: list | None = None, race_ids: list[str] | None = None, engines: list[str] | None = None,
            reports_dir: str | os.PathLike = "reports", llm: str | None = None, force: bool = False) -> list[Verdict]:
    """Each planned task: reused from which earlier run, or run, and why (:func:`kaizenlap.tasks.plan.why_rerun`
    against the newest earlier successful run of the same task)."""
    data_paths = resolve_data(list(data) if data else None)
    races, _ = load(data_paths, use_cache=True, race_ids=race_ids)
    wanted = list(dict.fromkeys(race_ids)) if race_ids else sorted(r.race_id for r in races)
    tasks = planner.plan(data_paths, races, wanted, None, engines, {"llm": llm_setting(llm)})
    previous = reuse.previous_runs(Path(reports_dir).resolve())
    out = []
    for t in tasks:
        hit = None if force else reuse.find_reusable(t, previous)
        if hit is not None:
            out.append(Verdict(t.key, "reuse", [], hit[0].name))
            continue
        hit = None if force else reuse.find_rerenderable(t, previous)
        if hit is not None:
            out.append(Verdict(t.key, "re-render", ["narration"], hit[0].name))
            continue
        earlier = next((rec for _, run in previous for rec in run.get("tasks", [])
                        if rec.get("key") == t.key and rec.get("status") in OK_STATUSES), None)
        out.append(Verdict(t.key, "run", ["--force"] if force else planner.why_rerun(t, earlier)))
    return out


def lines(verdicts: list[Verdict]) -> list[str]:
    runs = [v for v in verdicts if v.action == "run"]
    rerenders = [v for v in verdicts if v.action == "re-render"]
    out = [f"would run {len(runs)} of {len(verdicts)} task(s); reuse {len(verdicts) - len(runs) - len(rerenders)}"
           + (f"; re-render {len(rerenders)} (narration only)" if rerenders else "")]
    out += [f"  run   {v.key}: {'; '.join(v.reasons)}" for v in runs]
    out += [f"  re-render {v.key}: its notebook's narration changed" for v in rerenders]
    return out
