"""What the store keeps of a telemetry document (engine 5, :mod:`kaizenlap.engines.telemetry`) and the comparison
the app asks for: a car's lap against a reference car's best lap, or against its own best lap.

Store documents (collection ``telemetry``):

* the race's summary (``doc_id(race, "telemetry")``): the corners (name, distance, segment), per car its reference
  lap and per corner the medians with their intervals and n (brake onset, peak pressure, minimum speed and where,
  throttle pick-up, exit speed, delta to its own best), what could not be computed, the reader's ledger entries;
* per car (``doc_id(race, car, "telemetry", "trace")``): its best lap's channels on the distance grid
  (``channel_step_m``: speed, throttle, brake and the time since the line), that lap's per-corner values and
  segment times; its typical lap (its median clean lap, ``typical_lap``) the same way, its channels on the same
  grid; every complete lap's time, per-corner segment times, brake onset, minimum and exit speed, and its delta to
  the best lap every ``trace_step_m`` (``delta_ms``, integer ms);
* the engine's own documents (:func:`kaizenlap.engines.telemetry.documents`: per car and corner, per lap and corner).

:func:`compare` takes two of the per-car documents (or one, against its own best): the delta trace (car time minus
reference time at each distance) and the per-corner parts (segment time differences), which add up to the
difference of the two laps' durations.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kaizenlap.core.ids import doc_id
from kaizenlap.core.jsonclean import plain
from kaizenlap.engines import telemetry as engine

SUMMARY_KEYS = ("vehicle_id", "car", "reference", "n_laps_used", "lap_offset", "throttle_channel", "corners")
LAP_CORNER_KEYS = ("brake_m", "brake_peak_bar", "min_kph", "min_m", "pickup_m", "exit_kph", "segment_s")
LAP_COMPACT_KEYS = ("brake_m", "min_kph", "exit_kph")      # per lap in the trace document, one value per corner


def who(car: dict) -> str:
    return str(car.get("car") or car["vehicle_id"])


def summary_id(race_id: str) -> str:
    return doc_id(race_id, "telemetry")


def trace_id(race_id: str, car: str) -> str:
    return doc_id(race_id, car, "telemetry", "trace")


def summary(doc: dict) -> dict:
    """The race's summary document (see the module doc)."""
    race_id = doc["race_id"]
    cars = [{k: car.get(k) for k in SUMMARY_KEYS} for car in doc.get("cars", [])]
    return plain({"id": summary_id(race_id), "type": "telemetry_race", "engine": "telemetry", "race_id": race_id,
                  "track_id": doc.get("track_id"), "car": None, "lap": None, "available": bool(doc.get("available")),
                  "reason": doc.get("reason"), "length_m": doc.get("length_m"), "corners": doc.get("corners", []),
                  "cars": cars, "not_computed": doc.get("not_computed", []), "issues": doc.get("issues", []),
                  "level": (doc.get("params") or {}).get("level"), "section_check": doc.get("section_check")})


def _lap_key(lap: dict) -> str:
    return str(lap["lap"] if lap["lap"] is not None else lap["car_lap"])


def _r1(x):
    return None if x is None else round(float(x), 1)


def _full_lap(lap: dict | None) -> dict | None:
    if lap is None:
        return None
    return {"lap": lap["lap"], "car_lap": lap["car_lap"], "lap_time_s": lap.get("lap_time_s"),
            "duration_s": lap["duration_s"], "is_clean": lap.get("is_clean"),
            "corners": [{"corner": x["corner"], **{k: x.get(k) for k in LAP_CORNER_KEYS}} for x in lap["corners"]]}


def car_trace(doc: dict, car: dict) -> dict:
    """One car's per-car document (see the module doc)."""
    ref = car.get("reference") or {}
    typ = car.get("typical") or {}
    best = next((lap for lap in car.get("laps", []) if lap["car_lap"] == ref.get("car_lap")), None)
    median = next((lap for lap in car.get("laps", []) if lap["car_lap"] == typ.get("car_lap")), None)
    dt = car.get("delta_trace") or {}
    laps = []
    for lap in car.get("laps", []):
        trace = (dt.get("laps") or {}).get(_lap_key(lap))
        laps.append({"lap": lap["lap"], "car_lap": lap["car_lap"], "lap_time_s": lap.get("lap_time_s"),
                     "duration_s": lap["duration_s"], "is_clean": lap.get("is_clean"),
                     "segment_s": [x.get("segment_s") for x in lap["corners"]],
                     **{k: [_r1(x.get(k)) for x in lap["corners"]] for k in LAP_COMPACT_KEYS},
                     "delta_ms": None if trace is None or lap is best else [int(round(v * 1000)) for v in trace]})
    typical = None
    if median is not None:
        typical = {**_full_lap(median), "n": typ.get("n"), "basis": typ.get("basis"),
                   "channels": {k: v for k, v in (car.get("typical_channels") or {}).items()
                                if k != "distance_m"}}      # the best lap's grid
    return plain({"id": trace_id(doc["race_id"], who(car)), "type": "telemetry_trace", "engine": "telemetry",
                  "race_id": doc["race_id"], "track_id": doc.get("track_id"), "car": who(car), "lap": None,
                  "vehicle_id": car["vehicle_id"], "reference": car.get("reference"),
                  "channels": car.get("channels"), "best_lap": _full_lap(best), "typical_lap": typical,
                  "delta_step_m": dt.get("step_m"), "laps": laps})


def store_documents(doc: dict) -> list[dict]:
    """Every store document of one telemetry document (see the module doc)."""
    out = [summary(doc)] + [car_trace(doc, car) for car in doc.get("cars", [])]
    return out + engine.documents(doc)


def lap_view(trace: dict, lap: int | str | None = None, default: str = "best") -> dict:
    """One lap of a per-car document as :func:`compare` reads it: ``lap`` (the timing's lap number, or ``c<n>``
    for a lap known only by the car's counter) or, when None, the ``default`` lap: ``"best"`` (the car's best
    clean lap) or ``"median"`` (its median clean lap). The best and the median lap carry their channels on the
    5 m grid; any other complete lap its time since the line from the best lap's and its stored delta trace
    (``t(s) = t_best(s) + delta(s)``, ``delta`` every ``delta_step_m``, linear between), its per-corner brake
    onset, minimum and exit speeds and segment times, and no speed/throttle/brake channels. Raises ValueError
    naming what is missing."""
    car = trace["car"]
    best, typ, ch = trace.get("best_lap"), trace.get("typical_lap"), trace.get("channels")
    if not best or not ch:
        raise ValueError(f"car {car} has no complete lap in the telemetry")
    if lap is None and default == "median":
        if not typ:
            n = sum(1 for x in trace.get("laps", []) if x.get("is_clean"))
            raise ValueError(f"car {car} has no lap other than its best to compare with it ({n} clean complete "
                             f"lap{'s' if n != 1 else ''} with telemetry)")
        lap = typ["lap"] if typ["lap"] is not None else f"c{typ['car_lap']}"
    if lap is None:
        return {**best, "kind": "best", "channels": ch, "delta_step_m": ch["step_m"]}
    want = str(lap)
    row = next((x for x in trace.get("laps", []) if (str(x["lap"]) if x["lap"] is not None else f"c{x['car_lap']}")
                == want), None)
    if row is None:
        have = ", ".join(str(x["lap"]) if x["lap"] is not None else f"c{x['car_lap']}" for x in trace.get("laps", []))
        raise ValueError(f"car {car} has no complete lap {want} in the telemetry (complete laps: {have or 'none'})")
    if row["car_lap"] == best["car_lap"]:
        return {**best, "kind": "best", "channels": ch, "delta_step_m": ch["step_m"]}
    if typ and row["car_lap"] == typ["car_lap"]:
        return {**{k: v for k, v in typ.items() if k not in ("channels", "n", "basis")}, "kind": "median",
                "channels": {**typ["channels"], "distance_m": ch["distance_m"]}, "delta_step_m": ch["step_m"]}
    if row.get("delta_ms") is None:
        raise ValueError(f"car {car}'s lap {want} has no delta trace in the telemetry")
    step = float(trace["delta_step_m"])
    d = np.asarray(row["delta_ms"], float) / 1000.0
    x = np.minimum(np.arange(len(d)) * step, ch["distance_m"][-1])
    t = np.asarray(ch["time_s"], float) + np.interp(ch["distance_m"], x, d)
    corners = [{"corner": c["corner"], "segment_s": row["segment_s"][i],
                **{k: (row.get(k) or [None] * len(best["corners"]))[i] for k in LAP_COMPACT_KEYS}}
               for i, c in enumerate(best["corners"])]
    return {"lap": row["lap"], "car_lap": row["car_lap"], "lap_time_s": row.get("lap_time_s"),
            "duration_s": row["duration_s"], "is_clean": row.get("is_clean"), "corners": corners, "kind": "chosen",
            "channels": {"step_m": ch["step_m"], "distance_m": ch["distance_m"], "speed_kph": None,
                         "throttle_pct": None, "brake_bar": None, "time_s": np.round(t, 4).tolist()},
            "delta_step_m": step}


def laps_of(trace: dict) -> list[dict]:
    """The car's complete laps for a picker: lap (or ``c<n>``), time, clean, and which is its best and median."""
    best, typ = trace.get("best_lap") or {}, trace.get("typical_lap") or {}
    return [{"lap": x["lap"] if x["lap"] is not None else f"c{x['car_lap']}", "lap_time_s": x.get("lap_time_s"),
             "duration_s": x["duration_s"], "is_clean": x.get("is_clean"),
             "role": "best" if x["car_lap"] == best.get("car_lap") else
             "median" if x["car_lap"] == typ.get("car_lap") else None} for x in trace.get("laps", [])]


def compare(car: dict, ref: dict, corners: list[dict], lap: int | str | None = None, own: bool = False) \
        -> dict[str, Any]:
    """A lap of ``car`` against a reference lap (two per-car documents of one race; the same one when ``own``):
    against another car, ``car``'s lap ``lap`` (default its best) against ``ref``'s best lap; against its own
    best (``own``), ``car``'s lap ``lap`` (default its median clean lap, :func:`lap_view`) against its best lap.
    Both laps' channels, the delta trace (``car time - reference time`` at each distance of the grid, s;
    positive: the car is behind) and per corner the part of the difference (``car segment - reference segment``,
    s) with the brake onset, minimum speed and exit speed of both laps and their differences. The parts add up
    to ``lap_delta_s``, the difference of the two laps' durations. Raises ValueError when a lap is missing."""
    va = lap_view(car, lap, "median" if own else "best")
    vb = lap_view(car if own else ref, None, "best")
    a, b, ca, cb = va, vb, va["channels"], vb["channels"]
    ta, tb = ca["time_s"], cb["time_s"]
    n = min(len(ta), len(tb))
    parts = []
    for i, c in enumerate(corners):
        xa, xb = a["corners"][i], b["corners"][i]
        item = {"corner": c["corner"], "distance_m": c["distance_m"], "segment_m": c.get("segment_m"),
                "delta_s": _diff(xa.get("segment_s"), xb.get("segment_s"))}
        for k in ("brake_m", "min_kph", "exit_kph"):
            item[k] = xa.get(k)
            item[f"ref_{k}"] = xb.get(k)
            item[f"{k}_diff"] = _diff(xa.get(k), xb.get(k))
        parts.append(item)
    total = sum(p["delta_s"] for p in parts if p["delta_s"] is not None)
    lap_delta = a["duration_s"] - b["duration_s"]
    delta = [round(x - y, 4) for x, y in zip(ta[:n], tb[:n])]
    return plain({
        "car": car["car"], "reference_car": (car if own else ref)["car"], "own_best": own,
        "lap": a["lap"], "reference_lap": b["lap"], "lap_kind": va["kind"], "lap_time_s": a.get("lap_time_s"),
        "reference_lap_time_s": b.get("lap_time_s"), "duration_s": a["duration_s"],
        "reference_duration_s": b["duration_s"], "lap_delta_s": round(lap_delta, 4),
        "corner_delta_sum_s": round(total, 4), "step_m": ca["step_m"], "delta_step_m": va["delta_step_m"],
        "distance_m": ca["distance_m"][:n], "delta_s": delta,
        "channels": {"speed_kph": ca.get("speed_kph"), "throttle_pct": ca.get("throttle_pct"),
                     "brake_bar": ca.get("brake_bar")},
        "reference_channels": {"speed_kph": cb.get("speed_kph"), "throttle_pct": cb.get("throttle_pct"),
                               "brake_bar": cb.get("brake_bar")},
        "corners": parts, "laps": laps_of(car),
        "typical": None if not car.get("typical_lap") else
        {k: car["typical_lap"].get(k) for k in ("lap", "n", "basis")}})


def corner_table(doc: dict):
    """Per car and corner: brake onset, minimum speed and exit speed (medians over the car's clean laps with
    their intervals and n) and the median loss to the car's own best lap, one row each (a notebook's table)."""
    rows = []
    for car in doc.get("cars", []):
        for item in car.get("corners", []):
            row = {"car": who(car), "corner": item["corner"]}
            for k, label in (("brake_m", "brake onset (m)"), ("min_kph", "minimum (km/h)"),
                             ("exit_kph", "exit (km/h)"), ("delta_s", "loss to own best (s)")):
                e = item.get(k) or {}
                row[label] = e.get("value")
                row[f"{label} 95% interval"] = (None if e.get("lo") is None else
                                                f"{e['lo']:.1f} to {e['hi']:.1f}" if k != "delta_s" else
                                                f"{e['lo']:.3f} to {e['hi']:.3f}")
            row["n"] = (item.get("min_kph") or {}).get("n")
            rows.append(row)
    return pd.DataFrame(rows)


def fastest(cars: list[dict]) -> str | None:
    """The car of the race whose best complete lap is the fastest (the default reference)."""
    timed = [(c["reference"]["time_s"], str(c["car"])) for c in cars
             if (c.get("reference") or {}).get("time_s") is not None and c.get("car")]
    return min(timed)[1] if timed else None


def _diff(x, y):
    return None if x is None or y is None else round(float(x) - float(y), 4)


__all__ = ["summary", "car_trace", "store_documents", "compare", "lap_view", "laps_of", "fastest", "summary_id",
           "trace_id", "corner_table"]
