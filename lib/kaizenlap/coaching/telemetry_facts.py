"""Telemetry facts for a car's coaching brief (issue 22, item 5): the corners where the car loses time to the
reference car (the car whose best complete lap is the fastest) by more than its own lap-to-lap scatter explains,
with the false discovery rate controlled across the corners, each said the way a race engineer says it:

    Car 13 brakes 12 m earlier than Car 22 into C5 and loses 0.090 s there (95% CI 0.060 to 0.120 s, n=7)

Every number comes from the telemetry engine's document (:mod:`kaizenlap.engines.telemetry`, docs/DATA_REFERENCE.md
10.7 and 12.1): per corner c, the car's laps L (its clean complete laps; every complete lap where the laps are not
matched to the timing) give ``d_l = segment_s(l, c) - m_ref(c)``, ``m_ref(c)`` the median segment time of the
reference car's laps. The loss is ``median(d)`` with the distribution-free order-statistic interval of the median
(the engine's interval), its p-value Wilcoxon's signed-rank test of ``median(d) = 0`` (two-sided; exact for small n),
and the corners claimed are those whose Benjamini–Hochberg q-value is at most ``params/coaching.yaml:
telemetry.fdr`` and whose loss is positive. The brake onset, minimum speed and exit speed quoted beside it are the
two cars' medians as the engine reports them (``cars[].corners[].brake_m`` ...). Pure functions of the document.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
from scipy.stats import wilcoxon
from statsmodels.stats.multitest import multipletests

from kaizenlap.core import median_interval, params


def settings() -> dict:
    return {**{"fdr": 0.05, "max_corners": 3, "level": 0.95}, **(params.load("coaching").get("telemetry") or {})}


def _min_laps() -> int:
    return int(params.load("engines")["telemetry"]["min_laps"])


def _laps(car: dict) -> list[dict]:
    matched = car.get("lap_offset") is not None
    return [lap for lap in car.get("laps", []) if lap.get("is_clean") or not matched]


def _who(car: dict) -> str:
    return str(car.get("car") or car.get("vehicle_id"))


def reference_car(doc: dict) -> dict | None:
    """The car whose best complete lap (``reference.time_s``) is the fastest."""
    timed = [c for c in doc.get("cars", []) if (c.get("reference") or {}).get("time_s") is not None and c.get("car")]
    return min(timed, key=lambda c: (c["reference"]["time_s"], str(c["car"]))) if timed else None


def order_interval(x: np.ndarray, level: float) -> tuple[float, float]:
    """The distribution-free interval of the median (:mod:`kaizenlap.core.median_interval`), without its coverage."""
    lo, hi, _ = median_interval.order_interval(x, level)
    return lo, hi


def bh(p: list[float]) -> list[float]:
    """Benjamini–Hochberg q-values (statsmodels, as the pattern engine's trend FDR)."""
    return multipletests(p, method="fdr_bh")[1].tolist() if len(p) else []


def corner_tests(doc: dict, car: str) -> dict[str, Any]:
    """Per corner: the car's loss to the reference car (median, interval, n), Wilcoxon's p and the BH q across the
    corners, and both cars' median brake onset, minimum and exit speeds. ``{"reference": car, "corners": [...]}``,
    or ``{"reason": ...}`` when there is nothing to compare."""
    c = settings()
    mine = next((x for x in doc.get("cars", []) if _who(x) == str(car)), None)
    ref = reference_car(doc)
    if not doc.get("available") or mine is None:
        return {"reason": "no telemetry for this car"}
    if ref is None or _who(ref) == str(car):
        return {"reason": "the fastest car in the telemetry: the reference for the others", "reference": str(car)}
    names = [x["corner"] for x in doc.get("corners", [])]
    laps, ref_laps = _laps(mine), _laps(ref)
    rows = []
    for i, name in enumerate(names):
        ref_seg = [lap["corners"][i].get("segment_s") for lap in ref_laps]
        ref_seg = np.array([v for v in ref_seg if v is not None], float)
        seg = np.array([v for v in (lap["corners"][i].get("segment_s") for lap in laps) if v is not None], float)
        row = {"corner": name, "n": int(len(seg)), "n_ref": int(len(ref_seg))}
        for k in ("brake_m", "min_kph", "exit_kph"):
            row[k] = ((mine.get("corners") or [{}] * len(names))[i].get(k) or {}).get("value")
            row[f"ref_{k}"] = ((ref.get("corners") or [{}] * len(names))[i].get(k) or {}).get("value")
        if len(seg) < _min_laps() or len(ref_seg) < _min_laps():
            row["reason"] = f"not enough laps ({len(seg)} and {len(ref_seg)} < {_min_laps()})"
            rows.append(row)
            continue
        d = seg - float(np.median(ref_seg))
        lo, hi = order_interval(d, float(c["level"]))
        p = 1.0 if np.allclose(d, 0) else float(wilcoxon(d).pvalue)
        row.update(loss_s=float(np.median(d)), lo=lo, hi=hi, p=p, ref_median_s=float(np.median(ref_seg)))
        rows.append(row)
    tested = [r for r in rows if "p" in r]
    for r, q in zip(tested, bh([r["p"] for r in tested])):
        r["q"] = q
        r["claimed"] = bool(q <= float(c["fdr"]) and r["loss_s"] > 0)
    return {"reference": _who(ref), "reference_time_s": ref["reference"]["time_s"], "corners": rows}


def _brake_words(r: dict) -> str:
    if r.get("brake_m") is None or r.get("ref_brake_m") is None:
        return ""
    diff = r["brake_m"] - r["ref_brake_m"]
    if abs(diff) < 0.5:
        return "brakes where {ref} does"
    return f"brakes {abs(diff):.0f} m {'earlier' if diff < 0 else 'later'} than {{ref}}"


BRAKE_TEXT = re.compile(r"\bbrakes (\d+) m (earlier|later) than Car (\S+) into\b")
SAME_BRAKE_TEXT = re.compile(r"\bbrakes where Car (\S+) does\b")
SPEED_TEXT = re.compile(r", minimum (\d+) km/h against (\d+)$")


def quantities(fact_id: str, text: str) -> dict[str, Any]:
    """The distances and speeds a telemetry fact's text says (as :func:`facts_for_car` writes them, whole metres
    and km/h), for the validator: ``corner``; ``reference`` (the reference car, when named); ``brake_m`` (how
    much earlier or later the car brakes than the reference, m) with ``brake_dir`` (``earlier``/``later``);
    ``min_kph``, ``ref_min_kph`` (the two cars' minimum speeds) and ``min_kph_diff`` (car minus reference).
    Keys whose number the text does not give are absent."""
    out: dict[str, Any] = {}
    parts = fact_id.split(".")
    if len(parts) == 3 and parts[0] == "telemetry" and parts[2] == "loss":
        out["corner"] = parts[1]
    m = BRAKE_TEXT.search(text)
    if m:
        out.update(brake_m=float(m.group(1)), brake_dir=m.group(2), reference=m.group(3))
    elif SAME_BRAKE_TEXT.search(text):
        out.update(brake_m=0.0, brake_dir=None, reference=SAME_BRAKE_TEXT.search(text).group(1))
    m = SPEED_TEXT.search(text)
    if m:
        a, b = float(m.group(1)), float(m.group(2))
        out.update(min_kph=a, ref_min_kph=b, min_kph_diff=a - b)
    return out


def facts_for_car(doc: dict | None, car: str) -> list[dict]:
    """Keyword arguments of the brief's ``_Facts.add`` for ``car``: one fact per claimed corner (the largest losses
    first, at most ``telemetry.max_corners``), or one missing-data fact saying why there is none. Nothing when
    the race has no telemetry document."""
    if not doc:
        return []
    t = corner_tests(doc, car)
    label = f"Car {car}"
    if "reason" in t:
        return [{"fact_id": "telemetry.none", "kind": "telemetry", "source": "telemetry",
                 "text": f"telemetry: {t['reason']}", "missing": True, "order": 9}]
    ref = f"Car {t['reference']}"
    claimed = sorted((r for r in t["corners"] if r.get("claimed")), key=lambda r: -r["loss_s"])
    claimed = claimed[:int(settings()["max_corners"])]
    tested = sum("q" in r for r in t["corners"])
    if not tested:
        n = max((r["n"] for r in t["corners"]), default=0)
        return [{"fact_id": "telemetry.too_few_laps", "kind": "telemetry", "source": "telemetry",
                 "text": f"telemetry: too few laps to compare {label}'s corners with {ref} (n={n}; at least "
                         f"{_min_laps()} needed for each car)", "missing": True, "n": n, "order": 9}]
    if not claimed:
        return [{"fact_id": "telemetry.no_corner", "kind": "telemetry", "source": "telemetry",
                 "text": f"telemetry: no corner where {label} loses time to {ref} beyond its own lap-to-lap scatter "
                         f"({tested} corners compared)", "missing": True, "order": 9}]
    out = []
    for k, r in enumerate(claimed):
        brake = _brake_words(r).format(ref=ref)
        speed = ("" if r.get("min_kph") is None or r.get("ref_min_kph") is None else
                 f", minimum {r['min_kph']:.0f} km/h against {r['ref_min_kph']:.0f}")
        text = (f"{label} {brake + ' into' if brake else 'loses time at'} {r['corner']}"
                f"{' and loses' if brake else ':'} {r['loss_s']:.3f} s there a lap (95% CI {r['lo']:.3f} to "
                f"{r['hi']:.3f} s, n={r['n']}){speed}")
        out.append({"fact_id": f"telemetry.{r['corner']}.loss", "kind": "telemetry", "source": "telemetry",
                    "text": text, "value": r["loss_s"], "unit": "s", "n": r["n"], "lo": r["lo"], "hi": r["hi"],
                    "order": k})
    return out


__all__ = ["facts_for_car", "quantities", "corner_tests", "reference_car", "bh", "order_interval"]
