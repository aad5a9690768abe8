"""Reconciliation of the lap table against the official documents (the oracle).

The official best-10 (99) and results (00/03/05) files come from the timing system independently
of the lap file. Each car's best lap, ten best laps, laps completed and fastest lap must agree; a
disagreement is a ledger entry with its own code.

The best-10 file also reveals laps the officials deleted that the lap file cannot show (a deleted
lap slower than the car's best leaves no trace in LAP_IMPROVEMENT): an eligible lap that is faster
than the car's official 10th-best yet absent from its list. :func:`reconcile` returns those so the
caller can flag them ``deleted`` (docs/DATA_REFERENCE.md, "Deleted laps").
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import params
from .ledger import Issue


def eligible_for_best(laps: pd.DataFrame) -> pd.Series:
    """Official rule: lap 1 never counts as a best lap, and neither does a deleted lap."""
    return (laps["lap"] > 1) & ~laps["flag_deleted"]


def car_bests(laps: pd.DataFrame) -> pd.DataFrame:
    """Per car: laps, clean laps, official best lap time and its lap number (first lap on a tie)."""
    el = laps[eligible_for_best(laps)].sort_values(["car", "lap_time_s", "lap"])
    best = el.groupby("car", sort=False).first()[["lap_time_s", "lap"]]
    g = laps.groupby("car", sort=False)
    out = pd.DataFrame({"number": g["number"].first(), "class": g["class"].first(),
                        "laps": g.size(), "clean_laps": g["is_clean"].sum()})
    out["best_lap_s"] = best["lap_time_s"]
    out["best_lap_number"] = best["lap"].astype("Int64")
    return out.reset_index()


@dataclass
class Reconciliation:
    table: pd.DataFrame                       # one row per car: ours vs official
    issues: list[Issue] = field(default_factory=list)
    deleted: set[tuple[str, int]] = field(default_factory=set)   # (car, lap) revealed by best-10


def _match(cars: list[str], entries: list, cost) -> dict:
    """Pair car instances with official entries of the same number, minimising total cost."""
    best, best_cost = {}, np.inf
    for perm in itertools.permutations(entries, min(len(cars), len(entries))):
        c = sum(cost(car, e) for car, e in zip(cars, perm))
        if c < best_cost:
            best, best_cost = dict(zip(cars, perm)), c
    return best


def _num(v) -> float:
    return float(v) if v is not None and v is not pd.NA and v == v else np.nan


def reconcile(laps: pd.DataFrame, best10: pd.DataFrame | None, results: pd.DataFrame | None,
              best10_file: str | None, results_file: str | None) -> Reconciliation:
    tol = params.load("ingest")["reconcile"]["time_tolerance_s"]
    cars = car_bests(laps)
    rec = Reconciliation(cars)
    official: dict[str, dict[str, object]] = {car: {} for car in cars["car"]}
    issues = rec.issues
    el = laps[eligible_for_best(laps)].sort_values(["lap_time_s", "lap"])
    eligible = {car: list(zip(g["lap_time_s"].tolist(), g["lap"].tolist()))
                for car, g in el.groupby("car", sort=False)}
    cars_of_number = cars.groupby("number", sort=False)["car"].apply(list).to_dict()
    mine = dict(zip(cars["car"], cars["best_lap_s"]))
    n_laps = dict(zip(cars["car"], cars["laps"]))

    if best10 is not None:
        lists = {key: g.sort_values("rank") for key, g in best10.groupby(["number", "entry"], sort=False)}
        entries_of: dict[str, list[int]] = {}
        for number, entry in lists:
            entries_of.setdefault(number, []).append(entry)
        for number, group in cars_of_number.items():
            entries = entries_of.get(number, [])
            if not entries:
                for car in group:
                    issues.append(Issue("car_missing_from_source", f"car {car} is in the lap file but not in "
                                        "the best-10 file", file=best10_file, car=car))
                continue
            match = _match(group, entries, lambda c, e: abs(np.nan_to_num(mine[c], nan=1e6) - np.nan_to_num(
                lists[(number, e)]["lap_time_s"].iloc[0], nan=1e6)))
            for car, entry in match.items():
                _check_best10(car, lists[(number, entry)], eligible.get(car, []), n_laps[car], tol,
                              best10_file, rec, official[car])
        for number in sorted(set(entries_of) - set(cars_of_number)):
            first = lists[(number, entries_of[number][0])].iloc[0]
            issues.append(Issue("car_missing_from_source", f"car {number} is in the best-10 file but not in "
                                "the lap file", file=best10_file, line=int(first["source_line"]), car=number))

    if results is not None:
        res = results.reset_index(drop=True)
        rows_of = res.groupby("number", sort=False).groups
        for number, group in cars_of_number.items():
            rows = list(rows_of.get(number, []))
            if not rows:
                for car in group:
                    issues.append(Issue("car_missing_from_source", f"car {car} is in the lap file but not in "
                                        "the results", file=results_file, car=car))
                continue
            match = _match(group, rows, lambda c, i: abs(n_laps[c] - np.nan_to_num(_num(res.at[i, "laps"])))
                           + abs(np.nan_to_num(mine[c], nan=1e6) - np.nan_to_num(res.at[i, "fl_time_s"], nan=1e6)))
            for car, i in match.items():
                r = res.loc[i]
                official[car].update(official_laps=r["laps"], official_fl_time_s=r["fl_time_s"])
                line = int(r["source_line"])
                if pd.notna(r["laps"]) and int(r["laps"]) != n_laps[car]:
                    issues.append(Issue("laps_completed_mismatch", f"car {car}: {n_laps[car]} laps in the lap "
                                        f"file, {int(r['laps'])} in the results", file=results_file, line=line,
                                        column="LAPS", car=car))
                if pd.notna(r["fl_time_s"]) and not abs(np.nan_to_num(mine[car], nan=1e6) - r["fl_time_s"]) <= tol:
                    issues.append(Issue("fastest_lap_mismatch", f"car {car}: fastest lap {mine[car]} s here, "
                                        f"{r['fl_time_s']} s in the results", file=results_file, line=line,
                                        column="FL_TIME", car=car))
        started = res[res["laps"].fillna(0) > 0]
        for _, r in started[~started["number"].isin(set(cars_of_number))].iterrows():
            issues.append(Issue("car_missing_from_source", f"car {r['number']} has {int(r['laps'])} laps in the "
                                "results but none in the lap file", file=results_file,
                                line=int(r["source_line"]), car=r["number"]))
    for col, dtype in (("official_best_lap_s", "float64"), ("official_best_lap_number", "Int64"),
                       ("official_laps", "Int64"), ("official_fl_time_s", "float64")):
        rec.table[col] = pd.array([_num(official[c].get(col)) for c in cars["car"]], dtype="float64").astype(dtype)
    return rec


def _check_best10(car: str, official: pd.DataFrame, ours: list[tuple[float, int]], n_laps: int, tol: float,
                  file: str | None, rec: Reconciliation, out: dict) -> None:
    """Compare one car's eligible laps with its official best-10 row."""
    issues = rec.issues
    first = official.iloc[0]
    line = int(first["source_line"])
    listed = [(float(t), int(n)) for t, n in zip(official["lap_time_s"], official["lap"]) if t == t]
    out.update(official_best_lap_s=first["lap_time_s"], official_best_lap_number=first["lap"] if listed else None)
    total = first["total_driver_laps"]
    if pd.notna(total) and int(total) != n_laps:
        issues.append(Issue("laps_completed_mismatch", f"car {car}: {n_laps} laps in the lap file, "
                            f"TOTAL_DRIVER_LAPS {int(total)}", file=file, line=line, column="TOTAL_DRIVER_LAPS",
                            car=car))
    time_of_lap = {n: t for t, n in ours}
    # Every officially listed lap must exist here with the same time.
    for k, (t, n) in enumerate(listed, start=1):
        if n not in time_of_lap or abs(time_of_lap[n] - t) > tol:
            here = f"{time_of_lap[n]:.3f} s" if n in time_of_lap else "not an eligible lap"
            code = "best_lap_mismatch" if k == 1 else "best10_mismatch"
            issues.append(Issue(code, f"car {car}: official best-{k} is lap {n} in {t:.3f} s; here {here}",
                                file=file, line=line, column=f"BESTLAP_{k}", car=car))
            return
    if not listed:
        if ours:
            issues.append(Issue("best_lap_mismatch", f"car {car}: no official best lap, {len(ours)} eligible laps "
                                "here", file=file, line=line, column="BESTLAP_1", car=car))
        return
    # An eligible lap that would rank among the listed ones but is absent was deleted officially.
    listed_laps = {n for _, n in listed}
    cutoff = listed[-1][0] - tol if len(listed) >= 10 else np.inf
    unlisted = [(t, n) for t, n in ours if n not in listed_laps and t < cutoff]
    for _, n in unlisted:
        rec.deleted.add((car, n))
    remaining = sorted(t for t, n in ours if (car, n) not in rec.deleted)[: len(listed)]
    if len(remaining) != len(listed) or any(abs(a - b) > tol for a, (b, _) in zip(remaining, listed)):
        k = next((i for i, (a, (b, _)) in enumerate(zip(remaining, listed)) if abs(a - b) > tol),
                 min(len(remaining), len(listed)))
        issues.append(Issue("best10_mismatch", f"car {car}: best-{k + 1} differs ({len(remaining)} eligible laps "
                            f"here, {len(listed)} listed)", file=file, line=line, column=f"BESTLAP_{k + 1}", car=car))
