"""The library a data scientist calls (``import kaizenlap``; docs/API.md): find the races, load one, look at its
laps, run an engine on it with settings overridden for that call.

>>> import kaizenlap
>>> kaizenlap.races()                                     # the bundled sample season   # doctest: +SKIP
>>> race = kaizenlap.load_race(None, "sonoma-r2")                                       # doctest: +SKIP
>>> laps = kaizenlap.Laps(race.laps)
>>> laps.clean().fastest()                                # each car's fastest clean lap  # doctest: +SKIP
>>> doc = kaizenlap.analyse(race, "pattern", trend_fdr=0.1)                            # doctest: +SKIP
"""
from __future__ import annotations

import pandas as pd

from kaizenlap.core.paths import resolve_data
from kaizenlap.engines.common import engine_settings
from kaizenlap.ingest.flags import FLAG_CODES
from kaizenlap.ingest.loader import Race, load
from kaizenlap.ingest.race_files import load_race as _load_race
from kaizenlap.tasks.inprocess import execute
from kaizenlap.tasks.registry import registry


def races(data=None) -> pd.DataFrame:
    """A table of the races under ``data`` (None: ``$KAIZENLAP_DATA``, else the sample season): race id, track,
    race number, date, status, cars, laps, clean laps, ledger errors."""
    loaded, _ = load(resolve_data(data), use_cache=True)
    return pd.DataFrame([{"race_id": r.race_id, "track_id": r.track_id, "race": r.race_number, "date": r.date,
                          "status": r.status, "cars": int(r.laps["car"].nunique()) if len(r.laps) else 0,
                          "laps": int(len(r.laps)), "clean_laps": r.clean_laps,
                          "errors": sum(i.severity == "error" for i in r.issues)} for r in loaded])


def load_race(data, race_id: str) -> Race:
    """One race (``data`` None: the default data); raises if it is missing or did not load."""
    return _load_race(data, race_id)


class Laps(pd.DataFrame):
    """A race's lap table (docs/DATA_REFERENCE.md §3.3) with the selections an analyst makes every day, in the
    spirit of FastF1's ``Laps``: every method returns ``Laps`` again, nothing is dropped silently — a flagged
    lap stays in the table with its ``exclusion_reasons`` until you choose :meth:`clean`."""

    @property
    def _constructor(self):
        return Laps

    def clean(self) -> "Laps":
        """The laps that count for statistics (``is_clean``)."""
        return self[self["is_clean"]]

    def by_car(self, car: str) -> "Laps":
        return self[self["car"] == str(car)]

    def fastest(self, per_car: bool = True) -> "Laps":
        """The fastest lap (of each car, or of the table), by ``lap_time_s``."""
        timed = self[self["lap_time_s"].notna()]
        if not per_car:
            return timed.nsmallest(1, "lap_time_s")
        return timed.loc[timed.groupby("car")["lap_time_s"].idxmin()].sort_values("lap_time_s")

    def flagged(self, flag: str | None = None) -> "Laps":
        """Laps with any flag, or with ``flag`` (one of the ledger's lap flags: ``first_lap``, ``caution``, …)."""
        if flag is None:
            return self[~self["is_clean"]]
        if flag not in FLAG_CODES:
            raise ValueError(f"unknown flag {flag!r}; choose from {', '.join(FLAG_CODES)}")
        return self[self[f"flag_{flag}"]]


def analyse(race: Race | list[Race], task: str, **overrides) -> dict:
    """The document of task kind ``task`` (``composite``, ``sections``, ``weather``, ``pattern``,
    ``weather_track``, ``composite_track``, ``coaching``) for ``race`` (a track task: the track's races),
    computed in this process with ``params/engines.yaml`` overridden for this call (``trend_fdr=0.1``,
    ``pattern={"trend_fdr": 0.1}`` or ``**{"pattern.trend_fdr": 0.1}``). The tasks it reads run first."""
    reg = registry()
    if task not in reg:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(reg)}")
    subject = list(race) if isinstance(race, (list, tuple)) else [race]
    needed = [task, *reg[task].after]
    with engine_settings(overrides):
        tasks, documents = execute(subject, needed)
    mine = [t for t in tasks if t.name == task]
    if not mine:
        raise ValueError(f"{task} has no task here (a track task needs the track's races: "
                         f"{reg[task].min_races} at least)")
    if mine[0].status != "ok":
        raise RuntimeError(f"{mine[0].key} failed: {mine[0].error}")
    return documents[mine[0].key]


__all__ = ["races", "load_race", "Laps", "analyse", "engine_settings"]
