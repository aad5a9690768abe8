"""Reconciliation of the lap table against the official documents (the oracle).

The official best-10 (99) and results (00/03/05) files come from the timing system independently
of the lap file. Each car's best lap, ten best laps, laps completed and fastest lap must agree; a
disagreement is a ledger entry with its own code.

The best-10 file also reveals laps the officials deleted that the lap file cannot show (a deleted
lap slower than the car's best leaves no trace in LAP_IMPROVEMENT): an eligible lap faster than
the car's official 10th-best yet absent from its list. :func:`best10_deletions` finds those so
they can be flagged ``deleted`` before anything else uses the laps (docs/DATA_REFERENCE.md).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from kaizenlap.core import params
from kaizenlap.ingest.flags import deleted_laps, pit_out_laps
from kaizenlap.core.ledger import Issue

NO_TIME = 1e6   # stands in for a missing time when pairing entries (never reported)


@dataclass
class OfficialBest10:
    """One row of a 99_ file: a car's official ten best laps."""
    number: str
    line: int
    total_laps: int | None
    listed: list[tuple[float, int]]           # (time, lap number), fastest first

    @property
    def best(self) -> float:
        return self.listed[0][0] if self.listed else math.nan


@dataclass
class Reconciliation:
    table: pd.DataFrame                       # one row per car: ours vs official
    issues: list[Issue] = field(default_factory=list)


def eligible_for_best(laps: pd.DataFrame) -> pd.Series:
    """The official rules, as the best-10 files show them: lap 1 never counts, a deleted lap never
    counts, and laps that end or begin in the pit lane are never listed."""
    return (laps["lap"] > 1) & ~laps["flag_deleted"] & ~laps["flag_pit_in"] & ~laps["flag_pit_out"]


def best_laps(laps: pd.DataFrame) -> pd.DataFrame:
    """Each car's best lap, the one rule every consumer uses (``inspect``'s reconciliation, the store's
    ``/races/{id}/cars``): the fastest lap :func:`eligible_for_best` admits, the earlier lap on a tie.
    Columns ``car``, ``best_lap_s``, ``best_lap_number`` (NaN / <NA> for a car with no eligible lap)."""
    cars = pd.Index(laps["car"].unique(), name="car")
    el = laps[eligible_for_best(laps) & laps["lap_time_s"].notna()].sort_values(["car", "lap_time_s", "lap"],
                                                                                 kind="stable")
    first = el.groupby("car", sort=False).head(1).set_index("car").reindex(cars)
    return pd.DataFrame({"car": cars, "best_lap_s": first["lap_time_s"].to_numpy(float),
                         "best_lap_number": pd.array(first["lap"].to_numpy(), dtype="Int64")}).reset_index(drop=True)


def _eligible_laps(laps: pd.DataFrame, eligible: pd.Series) -> dict[str, list[tuple[float, int]]]:
    out: dict[str, list[tuple[float, int]]] = defaultdict(list)
    el = laps[eligible]
    for car, t, n in zip(el["car"], el["lap_time_s"], el["lap"]):
        out[car].append((float(t), int(n)))
    for v in out.values():
        v.sort()
    return out


def _official_lists(best10: pd.DataFrame) -> dict[str, list[OfficialBest10]]:
    by_key: dict[tuple[str, int], OfficialBest10] = {}
    for number, entry, rank, t, n, total, line in zip(best10["number"], best10["entry"], best10["rank"],
                                                       best10["lap_time_s"], best10["lap"],
                                                       best10["total_driver_laps"], best10["source_line"]):
        item = by_key.setdefault((number, entry), OfficialBest10(
            number, int(line), None if pd.isna(total) else int(total), []))
        if t == t and not pd.isna(n):
            item.listed.append((float(t), int(n)))
    out: dict[str, list[OfficialBest10]] = defaultdict(list)
    for (number, _), item in sorted(by_key.items(), key=lambda kv: kv[0][1]):
        item.listed.sort()
        out[number].append(item)
    return out


def _match(cars: list[str], entries: list, cost) -> dict:
    """Pair car instances with official entries of the same number, minimising total cost
    (``scipy.optimize.linear_sum_assignment``; rectangular when the counts differ)."""
    if not cars or not entries:
        return {}
    m = np.array([[cost(car, e) for e in entries] for car in cars], dtype=float)
    rows, cols = linear_sum_assignment(m)
    return {cars[i]: entries[j] for i, j in zip(rows, cols)}


def _t(x: float) -> float:
    return NO_TIME if x is None or x != x else x


def _pair_best10(laps: pd.DataFrame, eligible: dict, lists: dict) -> dict[str, OfficialBest10]:
    cars_of_number = laps.groupby("number", sort=False)["car"].unique()
    pairs = {}
    for number, cars in cars_of_number.items():
        entries = lists.get(number, [])
        if entries:
            best = {c: eligible[c][0][0] if eligible.get(c) else None for c in cars}
            pairs.update(_match(list(cars), entries, lambda c, e: abs(_t(best[c]) - _t(e.best))))
    return pairs


def best10_deletions(laps: pd.DataFrame, best10: pd.DataFrame | None) -> set[tuple[str, int]]:
    """(car, lap) of eligible laps that would rank inside the car's official list but are absent
    from it: the officials deleted them. Only where every listed lap is found with its time."""
    if best10 is None or laps.empty:
        return set()
    tol = params.load("ingest")["reconcile"]["time_tolerance_s"]
    eligible = _eligible_laps(laps, (laps["lap"] > 1) & ~deleted_laps(laps) & ~laps["pit_in"].astype(bool)
                              & ~pit_out_laps(laps))
    deleted = set()
    for car, official in _pair_best10(laps, eligible, _official_lists(best10)).items():
        ours = eligible.get(car, [])
        time_of = {n: t for t, n in ours}
        if not official.listed or any(n not in time_of or abs(time_of[n] - t) > tol for t, n in official.listed):
            continue   # a real disagreement: reconcile() reports it, nothing is inferred
        listed = {n for _, n in official.listed}
        cutoff = official.listed[-1][0] - tol if len(official.listed) >= 10 else math.inf
        deleted |= {(car, n) for t, n in ours if n not in listed and t < cutoff}
    return deleted


def reconcile(laps: pd.DataFrame, best10: pd.DataFrame | None, results: pd.DataFrame | None,
              best10_file: str | None, results_file: str | None) -> Reconciliation:
    """Per-car table (ours vs official) and a ledger entry for every disagreement."""
    tol = params.load("ingest")["reconcile"]["time_tolerance_s"]
    issues: list[Issue] = []
    eligible = _eligible_laps(laps, eligible_for_best(laps))
    g = laps.groupby("car", sort=False)
    cars = pd.DataFrame({"number": g["number"].first(), "class": g["class"].first(), "laps": g.size(),
                         "clean_laps": g["is_clean"].sum()}).reset_index()
    # Best lap: the one rule (best_laps): fastest eligible lap, the earlier lap on a tie.
    bl = best_laps(laps).set_index("car").reindex(cars["car"])
    cars["best_lap_s"] = bl["best_lap_s"].to_numpy(float)
    cars["best_lap_number"] = pd.array(bl["best_lap_number"].to_numpy(), dtype="Int64")
    best = {c: (t, None if pd.isna(n) else int(n)) for c, t, n in zip(cars["car"], cars["best_lap_s"],
                                                                       cars["best_lap_number"])}
    n_laps = dict(zip(cars["car"], cars["laps"]))
    official: dict[str, dict] = {c: {} for c in cars["car"]}

    if best10 is not None:
        lists = _official_lists(best10)
        pairs = _pair_best10(laps, eligible, lists)
        for car in cars["car"]:
            if car in pairs:
                _check_best10(car, pairs[car], eligible.get(car, []), n_laps[car], tol, best10_file, issues,
                              official[car])
            else:
                issues.append(Issue("car_missing_from_source", f"car {car} is in the lap file but not in the "
                                    "best-10 file", file=best10_file, car=car))
        for number, entries in lists.items():
            for e in entries[len(set(cars.loc[cars["number"] == number, "car"])):]:
                issues.append(Issue("car_missing_from_source", f"car {number} is in the best-10 file but not in "
                                    "the lap file", file=best10_file, line=e.line, car=number))

    if results is not None:
        na = [pd.NA] * len(results)
        rows = list(zip(results["number"], results["laps"], results["fl_time_s"], results["source_line"],
                        results["position"] if "position" in results else na,
                        results["class_position"] if "class_position" in results else na))
        rows_of: dict[str, list] = defaultdict(list)
        for r in rows:
            rows_of[r[0]].append(r)
        cars_of_number = cars.groupby("number", sort=False)["car"].apply(list)
        for number, group in cars_of_number.items():
            if not rows_of.get(number):
                for car in group:
                    issues.append(Issue("car_missing_from_source", f"car {car} is in the lap file but not in the "
                                        "results", file=results_file, car=car))
                continue
            match = _match(group, rows_of[number], lambda c, r: abs(n_laps[c] - (0 if pd.isna(r[1]) else r[1]))
                           + abs(_t(best[c][0]) - _t(r[2])))
            for car, (_, off_laps, fl_time, line, pos, cls_pos) in match.items():
                official[car].update(official_laps=off_laps, official_fl_time_s=fl_time,
                                     official_position=pos, official_class_position=cls_pos)
                if not pd.isna(off_laps) and int(off_laps) != n_laps[car]:
                    issues.append(Issue("laps_completed_mismatch", f"car {car}: {n_laps[car]} laps in the lap "
                                        f"file, {int(off_laps)} in the results", file=results_file, line=int(line),
                                        column="LAPS", car=car))
                if fl_time == fl_time and not abs(_t(best[car][0]) - fl_time) <= tol:
                    issues.append(Issue("fastest_lap_mismatch", f"car {car}: fastest lap {best[car][0]} s here, "
                                        f"{fl_time} s in the results", file=results_file, line=int(line),
                                        column="FL_TIME", car=car))
        for number, off_laps, _, line, *_ in rows:
            if number not in cars_of_number.index and not pd.isna(off_laps) and off_laps > 0:
                issues.append(Issue("car_missing_from_source", f"car {number} has {int(off_laps)} laps in the "
                                    "results but none in the lap file", file=results_file, line=int(line),
                                    car=number))

    for col, dtype in (("official_best_lap_s", "float64"), ("official_best_lap_number", "Int64"),
                       ("official_laps", "Int64"), ("official_fl_time_s", "float64"),
                       ("official_position", "Int64"), ("official_class_position", "Int64")):
        values = [official[c].get(col) for c in cars["car"]]
        cars[col] = pd.array([np.nan if v is None or pd.isna(v) else float(v) for v in values],
                             dtype="float64").astype(dtype)
    return Reconciliation(cars, issues)


def _check_best10(car: str, official: OfficialBest10, ours: list[tuple[float, int]], n_laps: int, tol: float,
                  file: str | None, issues: list[Issue], out: dict) -> None:
    """Compare one car's eligible laps with its official best-10 row."""
    listed, line = official.listed, official.line
    out.update(official_best_lap_s=official.best, official_best_lap_number=listed[0][1] if listed else None)
    if official.total_laps is not None and official.total_laps != n_laps:
        issues.append(Issue("laps_completed_mismatch", f"car {car}: {n_laps} laps in the lap file, "
                            f"TOTAL_DRIVER_LAPS {official.total_laps}", file=file, line=line,
                            column="TOTAL_DRIVER_LAPS", car=car))
    time_of = {n: t for t, n in ours}
    # Every officially listed lap must exist here, eligible, with the same time.
    for k, (t, n) in enumerate(listed, start=1):
        if n not in time_of or abs(time_of[n] - t) > tol:
            here = f"{time_of[n]:.3f} s" if n in time_of else "not an eligible lap"
            issues.append(Issue("best_lap_mismatch" if k == 1 else "best10_mismatch",
                                f"car {car}: official best-{k} is lap {n} in {t:.3f} s; here {here}",
                                file=file, line=line, column=f"BESTLAP_{k}", car=car))
            return
    if not listed:
        if ours:
            issues.append(Issue("best_lap_mismatch", f"car {car}: no official best lap, {len(ours)} eligible laps "
                                "here", file=file, line=line, column="BESTLAP_1", car=car))
        return
    # ... and our fastest eligible laps must be exactly those (nothing faster left unexplained).
    mine = [t for t, _ in ours[: len(listed)]]
    k = next((i for i, (a, (b, _)) in enumerate(zip(mine, listed)) if abs(a - b) > tol), None)
    if k is not None or len(mine) != len(listed):
        k = len(mine) if k is None else k
        issues.append(Issue("best_lap_mismatch" if k == 0 else "best10_mismatch",
                            f"car {car}: best-{k + 1} differs ({len(ours)} eligible laps here, {len(listed)} listed)",
                            file=file, line=line, column=f"BESTLAP_{k + 1}", car=car))
