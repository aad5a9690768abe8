"""The validator against a corpus of hand-made answers (issue 20, item 8): a brief and answers marked right or
wrong (``tests/fixtures/coaching_corpus.json``); the catch rate (wrong answers refused) and the false-reject rate
(right answers refused), printed by bench/coaching.py and asserted in tests/test_coaching_corpus.py.
"""
from __future__ import annotations

import json
from pathlib import Path

from kaizenlap.coaching.brief import Brief
from kaizenlap.coaching.model import Fact
from kaizenlap.coaching.objective import Objective
from kaizenlap.coaching.validate import validate

CORPUS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "coaching_corpus.json"


def brief_of(d: dict) -> Brief:
    """A :class:`~.brief.Brief` from its dict form (the corpus's hand-made brief; ``laps``: [first, last])."""
    o = d.get("objective")
    lo, hi = d.get("laps") or [1, 0]
    return Brief(race_id=d["race_id"], track_id=d.get("track_id"), car=str(d["car"]), car_class=d.get("car_class"),
                 n_clean=int(d.get("n_clean") or 0), n_laps=int(d.get("n_laps") or 0),
                 facts=[Fact.model_validate(f) for f in d["facts"]], cars=[str(c) for c in d.get("cars") or []],
                 sections=list(d.get("sections") or []), laps=list(range(lo, hi + 1)), places=d.get("places") or {},
                 corners=list(d.get("corners") or []), turns=[str(t) for t in d.get("turns") or []],
                 rival=d.get("rival"),
                 objective=Objective(**{k: v for k, v in o.items() if k in Objective.__dataclass_fields__})
                 if o else None)


def run(path: str | Path | None = None) -> dict:
    """``{right, wrong, caught, false_rejects, catch_rate, false_reject_rate, missed: [case], rejected: [(case,
    errors)], telemetry: {wrong, caught, right, false_rejects}}`` of the corpus at ``path`` (``telemetry``: the
    cases quoting telemetry facts' metres and km/h, named ``telemetry: ...``)."""
    data = json.loads(Path(path or CORPUS).read_text(encoding="utf-8"))
    brief = brief_of(data["brief"])
    missed = [c["case"] for c in data["wrong"] if validate(c["answer"], brief).ok]
    rejected = []
    for c in data["right"]:
        r = validate(c["answer"], brief)
        if not r.ok:
            rejected.append((c["case"], r.errors))
    nw, nr = len(data["wrong"]), len(data["right"])
    tw = [c["case"] for c in data["wrong"] if c["case"].startswith("telemetry:")]
    tr = [c["case"] for c in data["right"] if c["case"].startswith("telemetry:")]
    telemetry = {"wrong": len(tw), "caught": len(tw) - sum(c in missed for c in tw), "right": len(tr),
                 "false_rejects": sum(c in tr for c, _ in rejected)}
    return {"right": nr, "wrong": nw, "caught": nw - len(missed), "false_rejects": len(rejected),
            "catch_rate": (nw - len(missed)) / nw if nw else None,
            "false_reject_rate": len(rejected) / nr if nr else None, "missed": missed, "rejected": rejected,
            "telemetry": telemetry}
