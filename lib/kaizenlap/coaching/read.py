"""Every read of an engine document the coaching brief makes, in one place.

The brief never indexes an engine document itself: it calls these accessors, so a change of an engine's
document shape (SCHEMA.md) is fixed here and nowhere else. Each accessor returns plain values or
``None`` (never raises on a missing key): a missing piece becomes a missing-data fact in the brief.
"""
from __future__ import annotations

from typing import Any


def _get(d: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(d, dict):
            return None
        d = d.get(key)
    return d


def estimate(d: Any) -> dict | None:
    """``{value, lo, hi, n}`` of an Estimate object, or None when it has no value."""
    if not isinstance(d, dict) or d.get("value") is None:
        return None
    return {"value": float(d["value"]), "lo": d.get("lo"), "hi": d.get("hi"), "n": int(d.get("n") or 0)}


def car_entry(doc: dict | None, car: str) -> dict | None:
    """A car's entry in a race document's ``cars`` list (composite, sections, pattern)."""
    for entry in (doc or {}).get("cars") or []:
        if str(entry.get("car")) == str(car):
            return entry
    return None


def cars(doc: dict | None) -> list[str]:
    return [str(e["car"]) for e in (doc or {}).get("cars") or [] if e.get("car") is not None]


def race_ids(doc: dict | None) -> tuple[str | None, str | None]:
    return (doc or {}).get("race_id"), (doc or {}).get("track_id")


# --------------------------------------------------------------------------- sections engine

def preferred_sections(sections_doc: dict | None, car: str) -> tuple[str | None, dict]:
    """``(section_set, block)`` the car is coached from; block has ``available``, ``n``, ``sections``
    (ranked, each with ``section``, ``rank``, ``significant`` and Estimates ``section_loss``, ``loss``,
    ``pace_gap``, ``consistency_cost``, ``best_k``, ``median``) or ``reason``."""
    entry = car_entry(sections_doc, car)
    if entry is None:
        return None, {"available": False, "n": 0, "reason": "no section analysis for this car"}
    name = entry.get("preferred_set") or "sectors"
    return name, entry.get(name) or {"available": False, "n": 0}


def section_items(block: dict) -> list[dict]:
    out = []
    for s in block.get("sections") or []:
        out.append({"section": s.get("section"), "rank": s.get("rank"), "n": s.get("n"),
                    "significant": bool(s.get("significant")),
                    **{k: estimate(s.get(k)) for k in ("section_loss", "loss", "pace_gap", "consistency_cost",
                                                       "best_k", "median")}})
    return out


def car_sections(sections_doc: dict | None, car: str) -> set[str]:
    """Sections the car has statistics for (either set)."""
    entry = car_entry(sections_doc, car) or {}
    return {s.get("section") for set_name in ("sectors", "subsections")
            for s in _get(entry, set_name, "sections") or [] if s.get("section")}


# --------------------------------------------------------------------------- composite engine

def composite_car(composite_doc: dict | None, car: str) -> dict:
    """``best_clean_lap_s``, ``n_clean``, ``n_laps`` and, for the preferred set, ``personal_composite`` and
    ``best_k`` (Estimates or None)."""
    entry = car_entry(composite_doc, car) or {}
    out = {"best_clean_lap_s": entry.get("best_clean_lap_s"), "n_clean": entry.get("n_clean"),
           "n_laps": entry.get("n_laps")}
    for set_name in ("subsections", "sectors"):
        block = entry.get(set_name) or {}
        pc = estimate(block.get("personal_composite"))
        if pc is not None:
            out.update(section_set=set_name, personal_composite=pc, best_k=estimate(block.get("best_k")),
                       potential_gain_s=block.get("potential_gain_s"),
                       potential_gain_beats_noise=bool(block.get("potential_gain_beats_noise")),
                       noise_gap_p95_s=block.get("noise_gap_p95_s"),
                       noise_gap_expected_s=block.get("noise_gap_expected_s"))
            return out
    out.update(section_set=None, personal_composite=None, best_k=None,
               reason=_get(entry, "sectors", "personal_composite", "note"))
    return out


def field_composite(composite_doc: dict | None, cls: str = "all", section_set: str = "sectors") -> dict | None:
    for f in (composite_doc or {}).get("field") or []:
        if f.get("class") == cls and f.get("section_set") == section_set:
            return f
    return None


# --------------------------------------------------------------------------- pattern engine

def pattern_car(pattern_doc: dict | None, car: str) -> dict:
    """``available``, ``reason``, ``n``, ``median_s``, ``residual_sd_s`` (lap-to-lap SD around the car's own
    lap trend: the consistency measure the percentile ranks), ``trend`` (Estimate of the field-relative
    slope), ``trend_label`` (``improving`` / ``degrading`` only where the trend survives the race's FDR
    control, else ``no clear trend``), ``trend_q``, ``trend_p``, ``trend_cars`` (cars in the FDR family),
    ``driver`` (inconsistency driver), ``driver_share``, ``percentile``, ``field_size``, ``more_consistent_than``
    (the other rated cars with a larger residual SD) of ``others``, ``consistency`` (Estimate of that SD with its
    chi-square interval)."""
    e = car_entry(pattern_doc, car)
    if e is None:
        return {"available": False, "reason": "no pattern analysis for this car"}
    if not e.get("available"):
        return {"available": False, "reason": e.get("reason"), "n": e.get("n_clean")}
    st = e.get("stats") or {}
    driver = e.get("inconsistency_driver")
    share = None
    for set_name in ("subsections", "sectors"):
        shares = _get(e, "variance_share", set_name) or {}
        if driver in shares:
            share = shares[driver]
            break
    family = sum(1 for c in (pattern_doc or {}).get("cars") or []
                 if c.get("available") and _get(c, "trend", "q_value") is not None)
    return {"available": True, "n": st.get("n") or e.get("n_clean"), "median_s": st.get("median_s"),
            "residual_sd_s": e.get("residual_sd_s"),
            "trend": estimate(_get(e, "trend", "slope_s_per_lap")), "trend_label": _get(e, "trend", "label"),
            "trend_q": _get(e, "trend", "q_value"), "trend_p": _get(e, "trend", "p_value"), "trend_cars": family,
            "driver": driver, "driver_share": share, "percentile": e.get("consistency_percentile"),
            "field_size": e.get("field_size"), "more_consistent_than": e.get("more_consistent_than"),
            "others": e.get("others"), "consistency": estimate(e.get("consistency"))}


# --------------------------------------------------------------------------- weather engine

def weather_race(weather_doc: dict | None) -> dict:
    """``usable``, ``reason``, ``track_temp`` (conditions: min, max, n) and ``slope`` (Estimate s/°C) or
    ``slope_reason``."""
    d = weather_doc or {}
    if not d:
        return {"usable": False, "reason": "no weather analysis for this race"}
    if not d.get("usable"):
        return {"usable": False, "reason": d.get("reason") or "no weather readings"}
    tt = _get(d, "conditions", "track_temp_c") or {}
    p = d.get("pace_vs_track_temp") or {}
    return {"usable": True, "track_temp": tt if tt.get("available") else None,
            "slope": estimate(p.get("slope_s_per_c")) if p.get("available") else None,
            "qualification": p.get("qualification"),
            "slope_reason": None if p.get("available") else p.get("reason")}


def weather_track(track_doc: dict | None) -> dict:
    """The track's model (one OLS over the track's races: a level and a lap trend per car and race, so only
    within-race temperature variation identifies it; SE clustered by car): ``identifiable``, ``slope``
    (Estimate s/°C), ``reason``, ``note``, ``races``, ``cars``, ``temp_within_sd_c``."""
    d = track_doc or {}
    if not d:
        return {"identifiable": False, "reason": "the track weather model did not run"}
    if not d.get("identifiable"):
        return {"identifiable": False, "reason": d.get("reason"), "races": d.get("races")}
    return {"identifiable": True, "slope": estimate(d.get("track_temp_s_per_c")), "note": d.get("note"),
            "qualification": d.get("qualification"),
            "races": d.get("races"), "cars": d.get("cars"), "temp_within_sd_c": d.get("temp_within_sd_c")}


# --------------------------------------------------------------------------- quality ledger

def quality_for_car(quality_doc: dict | None, car: str) -> dict:
    """The race's ledger as it concerns one car: its issues (code -> count of issues) and reconciliation
    row, and the race's status."""
    q = quality_doc or {}
    codes: dict[str, int] = {}
    for issue in q.get("issues") or []:
        if str(issue.get("car")) == str(car):
            codes[issue.get("code")] = codes.get(issue.get("code"), 0) + 1
    rec = next((r for r in q.get("reconciliation") or [] if str(r.get("car")) == str(car)), None)
    return {"status": q.get("status"), "codes": codes, "reconciliation": rec}
