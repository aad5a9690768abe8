"""What the store keeps of a telemetry document (engine 5, :mod:`kaizenlap.engines.telemetry`) and the comparison
the app asks for: a car's best lap against a reference car's best lap.

Store documents (collection ``telemetry``):

* the race's summary (``doc_id(race, "telemetry")``): the corners (name, distance, segment), per car its reference
  lap and per corner the medians with their intervals and n (brake onset, peak pressure, minimum speed and where,
  throttle pick-up, exit speed, delta to its own best), what could not be computed, the reader's ledger entries;
* per car (``doc_id(race, car, "telemetry", "trace")``): its best lap's channels on the distance grid
  (``channel_step_m``: speed, throttle, brake and the time since the line), that lap's per-corner values and
  segment times, and every complete lap's time and per-corner segment times;
* the engine's own documents (:func:`kaizenlap.engines.telemetry.documents`: per car and corner, per lap and corner).

:func:`compare` takes two of the per-car documents: the delta trace (car time minus reference time at each distance)
and the per-corner parts (segment time differences), which add up to the difference of the two laps' durations.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from kaizenlap.core.ids import doc_id
from kaizenlap.core.jsonclean import plain
from kaizenlap.engines import telemetry as engine

SUMMARY_KEYS = ("vehicle_id", "car", "reference", "n_laps_used", "lap_offset", "throttle_channel", "corners")
LAP_CORNER_KEYS = ("brake_m", "brake_peak_bar", "min_kph", "min_m", "pickup_m", "exit_kph", "segment_s")


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
                  "level": (doc.get("params") or {}).get("level")})


def car_trace(doc: dict, car: dict) -> dict:
    """One car's per-car document (see the module doc)."""
    ref = car.get("reference") or {}
    best = next((lap for lap in car.get("laps", []) if lap["car_lap"] == ref.get("car_lap")), None)
    laps = [{"lap": lap["lap"], "car_lap": lap["car_lap"], "lap_time_s": lap.get("lap_time_s"),
             "duration_s": lap["duration_s"], "is_clean": lap.get("is_clean"),
             "segment_s": [x.get("segment_s") for x in lap["corners"]]} for lap in car.get("laps", [])]
    return plain({"id": trace_id(doc["race_id"], who(car)), "type": "telemetry_trace", "engine": "telemetry",
                  "race_id": doc["race_id"], "track_id": doc.get("track_id"), "car": who(car), "lap": None,
                  "vehicle_id": car["vehicle_id"], "reference": car.get("reference"),
                  "channels": car.get("channels"),
                  "best_lap": None if best is None else {
                      "lap": best["lap"], "car_lap": best["car_lap"], "lap_time_s": best.get("lap_time_s"),
                      "duration_s": best["duration_s"],
                      "corners": [{"corner": x["corner"], **{k: x.get(k) for k in LAP_CORNER_KEYS}}
                                  for x in best["corners"]]},
                  "laps": laps})


def store_documents(doc: dict) -> list[dict]:
    """Every store document of one telemetry document (see the module doc)."""
    out = [summary(doc)] + [car_trace(doc, car) for car in doc.get("cars", [])]
    return out + engine.documents(doc)


def compare(car: dict, ref: dict, corners: list[dict]) -> dict[str, Any]:
    """``car``'s best lap against ``ref``'s best lap (two per-car documents of one race): both cars' channels, the
    delta trace (``car time - reference time`` at each distance of the grid, s; positive: the car is behind) and
    per corner the part of the difference (``car segment - reference segment``, s) with the brake onset, minimum
    speed and exit speed of both laps and their differences. The parts add up to ``lap_delta_s``, the difference
    of the two laps' durations. Raises ValueError when either car has no complete lap."""
    a, b = car.get("best_lap"), ref.get("best_lap")
    ca, cb = car.get("channels"), ref.get("channels")
    if not a or not b or not ca or not cb:
        missing = car["car"] if not a or not ca else ref["car"]
        raise ValueError(f"car {missing} has no complete lap in the telemetry")
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
    return plain({
        "car": car["car"], "reference_car": ref["car"],
        "lap": a["lap"], "reference_lap": b["lap"], "lap_time_s": a.get("lap_time_s"),
        "reference_lap_time_s": b.get("lap_time_s"), "duration_s": a["duration_s"],
        "reference_duration_s": b["duration_s"], "lap_delta_s": round(a["duration_s"] - b["duration_s"], 4),
        "corner_delta_sum_s": round(total, 4), "step_m": ca["step_m"], "distance_m": ca["distance_m"][:n],
        "delta_s": [round(x - y, 4) for x, y in zip(ta[:n], tb[:n])],
        "channels": {"speed_kph": ca.get("speed_kph"), "throttle_pct": ca.get("throttle_pct"),
                     "brake_bar": ca.get("brake_bar")},
        "reference_channels": {"speed_kph": cb.get("speed_kph"), "throttle_pct": cb.get("throttle_pct"),
                               "brake_bar": cb.get("brake_bar")},
        "corners": parts})


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


__all__ = ["summary", "car_trace", "store_documents", "compare", "fastest", "summary_id", "trace_id",
           "corner_table"]
