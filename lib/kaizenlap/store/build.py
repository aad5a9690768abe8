"""Store documents from races and engine documents (SCHEMA.md describes every field).

:func:`ingest_documents` gives the tracks, races, laps and data-quality documents of ingested races;
:func:`engine_documents` converts one engine document (what a notebook records, and writes to the store
as its part of the run); :func:`documents_for_races` runs the engines itself (tests, bench, ad-hoc
publishing).

Document ids are deterministic: the same data gives the same ids, so a re-run overwrites.
"""
from __future__ import annotations

import math
import re
import traceback
from collections import Counter
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .. import params
from ..laps import SECTORS, SUBSECTIONS
from .base import COLLECTIONS

SECTIONS = (*SECTORS, *(k for k, _ in SUBSECTIONS))
SECTION_SET_OF = {**{s: "sectors" for s in SECTORS}, **{k: "subsections" for k, _ in SUBSECTIONS}}
FLAG_NAMES = ("first_lap", "caution", "deleted", "after_caution", "pit_in", "pit_out", "missing_sectors",
              "sector_sum", "slow", "glitch", "outlier")
LAP_FIELDS = ("number", "class", "driver_name", "team", "manufacturer", "lap_time_s", "s1_s", "s2_s", "s3_s",
              "im1a_s", "im1_s", "im2a_s", "im2_s", "im3a_s", "fl_s", "elapsed_s", "hour_local_s", "crossing_utc",
              "flag", "pit_in", "pit_time_s", "kph", "top_speed_kph", "lap_improvement", "deleted_by", "is_clean")

_ESC = re.compile(r"[^A-Za-z0-9._:+@-]")


def _part(value: Any) -> str:
    """A piece of a document id: characters outside [A-Za-z0-9._:+@-] become =XX (injective)."""
    return _ESC.sub(lambda m: "".join(f"={b:02X}" for b in m.group().encode()), str(value))


def doc_id(*parts: Any) -> str:
    return "~".join(_part(p) for p in parts)


def lap_key(lap: int) -> str:
    return f"l{int(lap):04d}"


def lap_section_ids(race_id: str, car: str, lap: int, section: str | None = None) -> list[str]:
    """Ids of the lap-scope section recommendations of one car-lap (one section, or all), in id order:
    the API fetches them directly instead of querying."""
    return sorted(doc_id(race_id, car, lap_key(lap), s) for s in ([section] if section else SECTIONS))


# Collections whose documents may have a lap (the others always have lap = null).
LAP_SCOPED = ("ml_section_recommendations", "coaching_insights")


def plain(obj: Any) -> Any:
    """JSON values only: numpy/pandas scalars to Python, NaN/NA/NaT to None, timestamps to ISO-8601."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    return obj


# --------------------------------------------------------------------------- tracks, races, laps, quality

def track_documents(race_ids_by_track: dict[str, list[str]]) -> list[dict]:
    out = []
    for track_id, t in sorted(params.tracks().items()):
        outline = t.get("outline")
        out.append(plain({
            "id": track_id, "track_id": track_id, "name": t.get("name", track_id), "timezone": t.get("timezone"),
            "length_m": t.get("length_m"), "sector_lengths_m": list(t.get("sector_lengths_m") or []),
            "pit_lane_s": t.get("pit_lane_s"), "reference_lap_s": t.get("reference_lap_s"),
            # The map outline traced from the official map (scripts/trace_tracks.py), normalised into the
            # unit box, starting at S/F in the direction of travel, and where S2 and S3 start along it.
            "outline": [{"x": float(p[0]), "y": float(p[1])} if isinstance(p, (list, tuple)) else p
                        for p in outline] if outline else None,
            "sector_fractions": list(t["sector_fractions"]) if t.get("sector_fractions") else None,
            "races": sorted(race_ids_by_track.get(track_id, [])),
        }))
    return out


def _cars(laps: pd.DataFrame) -> list[dict]:
    from ..reconcile import best_laps            # the one best-lap rule (inspect's reconciliation uses it too)
    bests = best_laps(laps).set_index("car")
    cars = []
    for car, g in laps.groupby("car", sort=True):
        clean = g[g["is_clean"]]
        first = g.iloc[0]
        b = bests.loc[car]
        best = None if pd.isna(b["best_lap_s"]) else {"lap_time_s": b["best_lap_s"], "lap": b["best_lap_number"]}
        best_clean = clean.loc[clean["lap_time_s"].idxmin()] if clean["lap_time_s"].notna().any() else None
        cars.append(plain({
            "car": str(car), "number": first["number"], "class": first["class"],
            "driver_name": first.get("driver_name"), "team": first.get("team"),
            "manufacturer": first.get("manufacturer"),
            "laps": int(len(g)), "clean_laps": int(len(clean)),
            "best_lap_s": None if best is None else best["lap_time_s"],
            "best_lap_number": None if best is None else best["lap"],
            "best_clean_lap_s": None if best_clean is None else best_clean["lap_time_s"],
            "best_clean_lap_number": None if best_clean is None else best_clean["lap"],
        }))
    return cars


def race_document(race) -> dict:
    laps = race.laps
    n = int(len(laps))
    cars = _cars(laps) if n else []
    return plain({
        "id": race.race_id, "race_id": race.race_id, "track_id": race.track_id, "race_number": race.race_number,
        "status": race.status, "date": race.date, "date_source": race.date_source,
        "n_laps": n, "n_clean": race.clean_laps, "n_cars": len(cars),
        "classes": sorted({c["class"] for c in cars if c["class"]}),
        "weather_rows": int(len(race.weather)), "has_weather": bool(len(race.weather)),
        "lap_event_offset_s": race.lap_event_offset_s,
        "cars": cars,
        "files": {role: list(v) for role, v in race.files.items()},
        "results_used": race.results_choice,
    })


def lap_documents(race) -> list[dict]:
    laps = race.laps
    if laps.empty:
        return []
    cols = [c for c in LAP_FIELDS if c in laps]
    flag_cols = [f"flag_{f}" for f in FLAG_NAMES if f"flag_{f}" in laps]
    frame = laps[["car", "lap", *cols, *flag_cols, "exclusion_reasons"]]
    out = []
    for rec in frame.to_dict(orient="records"):
        reasons = rec.pop("exclusion_reasons")
        flags = {f[5:]: bool(rec.pop(f)) for f in flag_cols}
        doc = {"id": doc_id(race.race_id, rec["car"], lap_key(rec["lap"])), "race_id": race.race_id,
               "track_id": race.track_id, **rec, "flags": flags,
               "exclusion_reasons": [r for r in str(reasons).split(";") if r] if isinstance(reasons, str) else []}
        out.append(plain(doc))
    return out


def quality_document(race) -> dict:
    issues = [i.to_dict() for i in race.issues]
    excl = race.exclusion_summary().to_dict(orient="records") if len(race.laps) else []
    rec = race.reconciliation.to_dict(orient="records") if race.reconciliation is not None else []
    return plain({
        "id": race.race_id, "race_id": race.race_id, "track_id": race.track_id, "status": race.status,
        "n_laps": int(len(race.laps)), "n_clean": race.clean_laps,
        "counts": dict(Counter(i["severity"] for i in issues)), "by_code": dict(Counter(i["code"] for i in issues)),
        "issues": issues, "exclusions": excl, "reconciliation": rec,
    })


# --------------------------------------------------------------------------- engine documents

def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def section_documents(doc: dict) -> list[dict]:
    race_id, track_id = doc["race_id"], doc.get("track_id")
    base = {"type": "section", "engine": "sections", "race_id": race_id, "track_id": track_id}
    out = []
    for car in doc["cars"]:
        for set_name in ("sectors", "subsections"):
            s = car.get(set_name) or {}
            common = {**base, "car": car["car"], "class": car.get("class"), "lap": None, "scope": "car",
                      "section_set": set_name, "preferred": car.get("preferred_set") == set_name}
            if not s.get("available"):
                out.append({"id": doc_id(race_id, car["car"], "a", set_name), **common, "section": None,
                            "available": False, "n": s.get("n", 0), "reason": s.get("reason"),
                            "message": f"{set_name}: {s.get('reason') or 'not available'}"})
                continue
            for item in s["sections"]:
                loss, gap, cons = item["loss"], item["pace_gap"], item["consistency_cost"]
                own = item.get("section_loss") or {}
                msg = (f"{item['section'].upper()} (rank {item['rank']}): {_fmt(own.get('value'))} s per lap beyond "
                       f"the car's overall deficit (95% CI {_fmt(own.get('lo'))} to {_fmt(own.get('hi'))}, "
                       f"n={item['n']})" + ("" if item["significant"] else ", not significant")
                       + f"; {_fmt(loss['value'])} s slower than the field's best (95% CI {_fmt(loss['lo'])} to "
                       f"{_fmt(loss['hi'])}): pace {_fmt(gap['value'])} s, consistency {_fmt(cons['value'])} s")
                out.append({"id": doc_id(race_id, car["car"], "a", set_name, item["section"]), **common,
                            "section": item["section"], "available": True, "total_loss_s": s.get("total_loss_s"),
                            **{k: item.get(k) for k in ("rank", "n", "composite_s", "field_typical_s", "median",
                                                        "best_k", "pace_gap", "consistency_cost", "loss",
                                                        "section_loss", "significant")},
                            "message": msg})
    reference = {}
    for ref in (doc.get("reference") or {}).values():
        for comp in ref.get("components", []) if ref.get("available") else []:
            reference[comp["section"]] = comp["time_s"]
    for rec in doc.get("laps", []):
        reasons = rec.get("exclusion_reasons")
        out.append({"id": doc_id(race_id, rec["car"], lap_key(rec["lap"]), rec["section"]), **base,
                    "car": rec["car"], "lap": int(rec["lap"]), "section": rec["section"], "scope": "lap",
                    "section_set": SECTION_SET_OF.get(rec["section"]), "time_s": rec.get("time_s"),
                    "composite_s": reference.get(rec["section"]),
                    "delta_to_composite_s": rec.get("delta_to_composite_s"),
                    "delta_to_own_best_s": rec.get("delta_to_own_best_s"), "is_clean": bool(rec.get("is_clean")),
                    "exclusion_reasons": [r for r in reasons.split(";") if r] if isinstance(reasons, str) else
                    list(reasons or [])})
    return [plain(d) for d in out]


def pattern_documents(doc: dict) -> list[dict]:
    race_id = doc["race_id"]
    out = []
    for car in doc["cars"]:
        d = {"id": doc_id(race_id, car["car"], "pattern"), "type": "pattern", "engine": "pattern",
             "race_id": race_id, "track_id": doc.get("track_id"), "car": car["car"], "lap": None,
             # the section that drives the car's lap-time variance, so ?section= finds it
             "section": car.get("inconsistency_driver"), "scope": "car",
             **{k: v for k, v in car.items() if k != "car"}}
        if car.get("available"):
            st, tr = car["stats"], car.get("trend", {})
            d["message"] = (f"median {_fmt(st['median_s'])} s over {st['n']} clean laps, lap-to-lap SD "
                            f"{_fmt(car.get('residual_sd_s'))} s around its own trend; trend relative to the field: "
                            f"{tr.get('label', 'n/a')}"
                            + (f"; inconsistency mostly in {car['inconsistency_driver'].upper()}"
                               if car.get("inconsistency_driver") else ""))
        else:
            d["message"] = car.get("reason")
        out.append(plain(d))
    return out


def weather_track_id(race_id: str) -> str:
    """Id of a race's copy of its track's pooled weather model."""
    return doc_id(race_id, "weather", "track")


def weather_track_documents(track_doc: dict) -> list[dict]:
    """The track's pooled model, one copy per race of the track (so ``?race_id=`` finds it beside the
    race's own weather document, and each copy is written by the one track task)."""
    fields = {k: v for k, v in track_doc.items() if k not in ("engine", "scope", "track_id")}
    if track_doc.get("identifiable"):
        s = track_doc["track_temp_s_per_c"]
        message = (f"{track_doc.get('track_id')}, races pooled: lap time changes {_fmt(s['value'])} s per °C of "
                   f"track temperature (95% CI {_fmt(s['lo'])} to {_fmt(s['hi'])}, n={s['n']})"
                   + (f"; {track_doc['note']}" if track_doc.get("note") else ""))
    else:
        message = f"{track_doc.get('track_id')}, races pooled: not identifiable: {track_doc.get('reason')}"
    return [plain({"id": weather_track_id(race_id), "type": "weather", "engine": "weather", "race_id": race_id,
                   "track_id": track_doc.get("track_id"), "car": None, "lap": None, "section": None,
                   "scope": "track", **fields, "message": message})
            for race_id in track_doc.get("races") or []]


def weather_documents(doc: dict) -> list[dict]:
    race_id = doc["race_id"]
    d = {"id": doc_id(race_id, "weather"), "type": "weather", "engine": "weather", "race_id": race_id,
         "track_id": doc.get("track_id"), "car": None, "lap": None, "section": None, "scope": "race",
         **{k: v for k, v in doc.items() if k not in ("engine", "race_id", "track_id", "scope")}}
    if not doc.get("usable"):
        d["message"] = doc.get("reason")
    else:
        p = doc.get("pace_vs_track_temp") or {}
        if p.get("available"):
            s = p["slope_s_per_c"]
            d["message"] = (f"lap time changes {_fmt(s['value'])} s per °C of track temperature "
                            f"(95% CI {_fmt(s['lo'])} to {_fmt(s['hi'])}, n={s['n']}); {p.get('note')}")
        else:
            d["message"] = f"pace vs track temperature: {p.get('reason', 'not available')}"
    return [plain(d)]


def composite_document(doc: dict) -> dict:
    key = doc["race_id"] if doc.get("scope", "race") == "race" else doc_id("track", doc["track_id"])
    return plain({"id": key, **doc})


def engine_documents(engine: str, doc: dict) -> dict[str, list[dict]]:
    """One engine document (what a notebook records) -> ``{collection: [documents]}``: the engine
    registry's converter for the document's engine and scope."""
    from ..engines.registry import spec_for_document
    return spec_for_document({**doc, "engine": engine}).store_documents(doc)


# --------------------------------------------------------------------------- whole runs

def _merge(into: dict[str, list[dict]], more: dict[str, list[dict]]) -> None:
    for coll, docs in more.items():
        into.setdefault(coll, []).extend(docs)


def _failed(task: str, race_id: str | None, exc: BaseException) -> dict:
    return {"task": task, "race_id": race_id, "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=5)}


def ingest_documents(races: Iterable) -> dict[str, list[dict]]:
    """The documents that come from ingest alone: tracks, races, laps and data quality."""
    races = list(races)
    by_track: dict[str, list[str]] = {}
    for race in races:
        by_track.setdefault(race.track_id, []).append(race.race_id)
    docs: dict[str, list[dict]] = {"tracks": track_documents(by_track), "races": [], "laps": [], "data_quality": []}
    for race in races:
        docs["races"].append(race_document(race))
        docs["laps"].extend(lap_documents(race))
        docs["data_quality"].append(quality_document(race))
    return docs


def documents_for_races(races: Iterable, input_issues: Iterable | None = None,
                        ) -> tuple[dict[str, list[dict]], dict]:
    """Every document for ``races`` (ingest :class:`~kaizenlap.ingest.Race` objects), running each task
    kind of the engine registry in this process, as the pipeline would (tests, bench, ``python -m
    kaizenlap.store publish``; the pipeline's notebooks call the same ``analyse`` and write the same
    documents, each its own part).

    Returns ``(docs_by_collection, meta)``; ``meta["failed_tasks"]`` lists engine runs that raised
    (the rest is still built), ready for :func:`kaizenlap.store.publish_documents`.
    """
    from ..engines.registry import RACE, dependencies, registry, topological

    reg = registry()
    races = list(races)
    docs: dict[str, list[dict]] = {c: [] for c in COLLECTIONS}
    _merge(docs, ingest_documents(races))
    failed: list[dict] = []
    loaded = [r for r in races if r.status == "loaded" and len(r.laps)]
    by_track: dict[str, list] = {}
    for race in loaded:
        by_track.setdefault(race.track_id, []).append(race)
    recorded: dict[tuple[str, str], dict] = {}       # (subject, task) -> document
    broken: set[tuple[str, str]] = set()
    for name in topological(list(reg)):
        s = reg[name]
        if s.scope == RACE:
            targets = [(r.race_id, [r], r.track_id) for r in loaded]
        else:
            targets = [(tid, sorted(rs, key=lambda r: r.race_number), tid) for tid, rs in by_track.items()
                       if len(rs) >= s.min_races]
        for subject, subject_races, track_id in targets:
            deps = dependencies(s, [r.race_id for r in subject_races], track_id)
            inputs = {f"{k}/{dep}": recorded[(k, dep)] for k, dep in deps if (k, dep) in recorded}
            race_id = subject if s.scope == RACE else None
            if any(d in broken for d in deps):
                failed.append({"task": f"{name}:{subject}", "race_id": race_id,
                               "error": "DependencyFailed: a task it reads failed", "traceback": ""})
                broken.add((subject, name))
                continue
            try:
                doc = s.analyse(subject_races, subject, inputs)
                recorded[(subject, name)] = doc
                _merge(docs, s.store_documents(doc))
            except Exception as exc:
                failed.append(_failed(f"{name}:{subject}", race_id, exc))
                broken.add((subject, name))
    meta = {"races": [r.race_id for r in races], "failed_tasks": failed,
            "input_issues": [i.to_dict() for i in (input_issues or [])]}
    return docs, meta
