"""Do the diagnoses hold? Race 1's finding for a car checked on race 2 of the same weekend (issue 20, item 6).

A car's **finding** in a race is its weakest section relative to the field: the section whose
``section_loss`` (the loss beyond the car's overall deficit, DATA_REFERENCE §10.2) is largest among those whose
95% interval lies wholly above zero. It **held** in race 2 when the same section's ``section_loss`` interval
there lies wholly above zero too.

Chance: were race 1's finding a section drawn at random, it would hold with probability (race 2's significantly
weak sections of the car) / (sections). The expected count is the sum of those over cars; a permutation test
(each car's finding moved to a uniformly drawn section, ``draws`` times, seeded) gives the p-value of the held
count. Drivers did not see these notes: this tests whether the diagnosis is a property of the driver, not
whether coaching worked. Regression to the mean works against holding (race 1's largest loss is partly luck), so
a rate above chance is conservative evidence.
"""
from __future__ import annotations

import numpy as np


def _set(entry: dict, set_name: str | None) -> str:
    return set_name or entry.get("preferred_set") or "subsections"


def findings(sections_doc: dict, set_name: str | None = None) -> dict[str, dict]:
    """car -> its finding ``{"section", "set", "section_loss"}`` (the Estimate), for cars that have one.
    ``set_name`` None: the car's preferred section set (sub-sections where the race has them, else sectors)."""
    out = {}
    for entry in sections_doc.get("cars", []):
        s = entry.get(_set(entry, set_name)) or {}
        if not s.get("available"):
            continue
        weak = [x for x in s["sections"] if _above_zero(x.get("section_loss"))]
        if weak:
            top = max(weak, key=lambda x: x["section_loss"]["value"])
            out[entry["car"]] = {"section": top["section"], "set": _set(entry, set_name),
                                 "section_loss": top["section_loss"]}
    return out


def _above_zero(e: dict | None) -> bool:
    return bool(e) and e.get("lo") is not None and e["lo"] > 0


def _sections(sections_doc: dict, car: str, set_name: str) -> dict[str, dict]:
    for entry in sections_doc.get("cars", []):
        if entry["car"] == car:
            s = entry.get(set_name) or {}
            return {x["section"]: x for x in s.get("sections", [])} if s.get("available") else {}
    return {}


def check(race1: dict, race2: dict, set_name: str | None = None) -> list[dict]:
    """Per car with a race-1 finding that also ran race 2: the finding, race 2's estimate for that section,
    whether it held, and the chance that a random section would have."""
    rows = []
    for car, f in sorted(findings(race1, set_name).items()):
        secs = _sections(race2, car, f["set"])
        if not secs:
            continue
        later = secs.get(f["section"], {}).get("section_loss")
        weak2 = sum(_above_zero(x.get("section_loss")) for x in secs.values())
        rows.append({"car": car, "section": f["section"], "set": f["set"], "race1": f["section_loss"], "race2": later,
                     "held": _above_zero(later), "chance": weak2 / len(secs), "weak_sections_race2": weak2,
                     "sections": len(secs)})
    return rows


def summary(rows: list[dict], draws: int = 2000, seed: int = 20) -> dict:
    """Held count and rate, the count and rate expected by chance, and the permutation p-value
    (P[held count >= observed] when each car's finding is a uniformly drawn section)."""
    n = len(rows)
    if not n:
        return {"cars": 0, "held": 0, "rate": None, "chance_rate": None, "p_value": None}
    held = sum(r["held"] for r in rows)
    p = np.array([r["chance"] for r in rows])
    sims = (np.random.default_rng(seed).random((draws, n)) < p).sum(axis=1)
    return {"cars": n, "held": int(held), "rate": held / n, "chance_rate": float(p.mean()),
            "p_value": float((np.sum(sims >= held) + 1) / (draws + 1))}
