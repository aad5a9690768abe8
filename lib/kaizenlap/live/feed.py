"""Live mode's feed: the timing line and sub-section crossings of one race, one :class:`Crossing` each, in the
order they happened.

A feed is an interface (:class:`Feed`): ``meta()`` (the race and its cars) and ``crossings()`` (every crossing,
in order, unpaced). Two feeds today: :class:`ReplayFeed` rebuilds the crossings of a race from its timing file
(the lap table's ``crossing_utc`` and section times) and :class:`RecordedFeed` reads a recording (JSON lines:
the meta first, then one crossing a line; :func:`record` writes one). A real feed later implements the same two
methods. :func:`paced` yields a feed's crossings in real spacing divided by ``speed``.

Crossing times: a lap crossing is the lap's ``crossing_utc``; the lap started ``lap_time_s`` before it; the end of
sub-section P is the lap start plus the sub-section times up to P (emitted only when all of them are known).
Sector S1 completes at IM1, S2 at IM2 and S3 at the line; any section of the lap not yet reported (a missing
sub-section time) is reported at the line. ``lap_improvement`` is never carried (the timing file's marks are
post-race: best of the race), so nothing a car does later reaches an earlier crossing.
"""
from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd

from kaizenlap.core.jsonclean import plain
from kaizenlap.ingest.laps import SUBSECTIONS
from kaizenlap.ingest.loader import Race

POINTS = tuple(k for k, _ in SUBSECTIONS)         # im1a, im1, im2a, im2, im3a, fl (fl = the line)
SECTOR_AT = {"im1": "s1", "im2": "s2", "fl": "s3"}  # the sector a point completes
CAR_FIELDS = ("car", "number", "instance", "class", "group", "manufacturer", "driver_name", "team")
LAP_FIELDS = ("lap_time_s", "elapsed_s", "hour_local_s", "crossing_utc", "flag", "pit_in", "pit_time_s", "kph",
              "top_speed_kph", "source_line")
RECORDING_VERSION = 1


@dataclass(frozen=True)
class Crossing:
    """One car crossing one timing point. ``q``: the crossing's ordinal in the car's race (lap L, point i ->
    6 (L - 1) + i + 1; the line of lap L is 6 L). ``sections``: the section times this crossing completes.
    ``lap``: the finished lap's row (the line only: lap time, flag, pit, speeds, ...)."""
    car: str
    lap: int
    point: str
    time_utc: str
    t_s: float                        # seconds since the race's first lap started
    sections: dict[str, float] = field(default_factory=dict)
    row: dict[str, Any] | None = None

    @property
    def q(self) -> int:
        return (self.lap - 1) * len(POINTS) + POINTS.index(self.point) + 1

    def to_dict(self) -> dict:
        return {"type": "crossing", **asdict(self)}

    @staticmethod
    def from_dict(d: dict) -> "Crossing":
        return Crossing(str(d["car"]), int(d["lap"]), d["point"], d["time_utc"], float(d["t_s"]),
                        {k: float(v) for k, v in (d.get("sections") or {}).items()}, d.get("row"))


class Feed(ABC):
    """Where crossings come from."""

    @abstractmethod
    def meta(self) -> dict:
        """``{"race_id", "track_id", "race_number", "date", "start_utc", "cars": [{car, number, class, ...}]}``."""

    @abstractmethod
    def crossings(self) -> Iterator[Crossing]:
        """Every crossing, in the order it happened (ties: lap, point, car), unpaced."""


def _value(v):
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    return v.item() if hasattr(v, "item") else v


class ReplayFeed(Feed):
    """The crossings of a loaded race (:class:`kaizenlap.ingest.loader.Race`), from its timing file."""

    def __init__(self, race: Race) -> None:
        if race.status != "loaded" or race.laps.empty or race.laps["crossing_utc"].isna().all():
            raise ValueError(f"race {race.race_id} has no lap crossing times to replay")
        self.race = race
        self._meta, self._crossings = self._build()

    def meta(self) -> dict:
        return self._meta

    def crossings(self) -> Iterator[Crossing]:
        return iter(self._crossings)

    def _build(self) -> tuple[dict, list[Crossing]]:
        laps = self.race.laps.dropna(subset=["crossing_utc", "lap_time_s"]).sort_values(["car", "lap"])
        start = (laps["crossing_utc"] - pd.to_timedelta(laps["lap_time_s"], unit="s")).min()
        cars = []
        for car, g in laps.groupby("car", sort=True):
            first = g.iloc[0]
            cars.append({k: _value(first[k]) for k in CAR_FIELDS})
        meta = plain({"race_id": self.race.race_id, "track_id": self.race.track_id,
                      "race_number": self.race.race_number, "date": self.race.date,
                      "start_utc": start.isoformat(), "cars": cars})
        out: list[tuple[tuple, Crossing]] = []
        for rec in laps.to_dict("records"):
            end = rec["crossing_utc"]
            begin = end - pd.Timedelta(seconds=float(rec["lap_time_s"]))
            reported: set[str] = set()
            acc, known = 0.0, True
            lap, car = int(rec["lap"]), str(rec["car"])
            for point in POINTS[:-1]:
                t = rec.get(f"{point}_s")
                if t is None or (isinstance(t, float) and math.isnan(t)) or not known:
                    known = False
                    continue
                acc += float(t)
                when = begin + pd.Timedelta(seconds=acc)
                if not (begin < when < end):      # sub-sections longer than the lap: not a time to trust
                    known = False
                    continue
                secs = {point: float(t)}
                sector = SECTOR_AT.get(point)
                if sector and _value(rec.get(f"{sector}_s")) is not None:
                    secs[sector] = float(rec[f"{sector}_s"])
                reported |= set(secs)
                out.append(((when, lap, POINTS.index(point), car),
                            Crossing(car, lap, point, when.isoformat(), (when - start).total_seconds(), secs)))
            secs = {s: float(rec[f"{s}_s"]) for s in ("fl", "s3", *POINTS[:-1], "s1", "s2")
                    if s not in reported and _value(rec.get(f"{s}_s")) is not None}
            row = plain({k: _value(rec.get(k)) for k in LAP_FIELDS})
            out.append(((end, lap, len(POINTS) - 1, car),
                        Crossing(car, lap, "fl", end.isoformat(), (end - start).total_seconds(), secs, row)))
        out.sort(key=lambda x: x[0])
        return meta, [c for _, c in out]


class RecordedFeed(Feed):
    """A recording written by :func:`record` (JSON lines: the meta, then one crossing a line)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open(self.path, encoding="utf-8") as fh:
            head = json.loads(fh.readline())
        if head.get("type") != "meta" or head.get("version") != RECORDING_VERSION:
            raise ValueError(f"{self.path}: not a live recording (version {RECORDING_VERSION})")
        self._meta = head["meta"]

    def meta(self) -> dict:
        return self._meta

    def crossings(self) -> Iterator[Crossing]:
        with open(self.path, encoding="utf-8") as fh:
            fh.readline()
            for line in fh:
                if line.strip():
                    yield Crossing.from_dict(json.loads(line))


def record(feed: Feed, path: str | Path) -> int:
    """Write ``feed`` as a recording (JSON lines); returns the number of crossings."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps({"type": "meta", "version": RECORDING_VERSION, "meta": feed.meta()}) + "\n")
        for c in feed.crossings():
            fh.write(json.dumps(c.to_dict(), separators=(",", ":")) + "\n")
            n += 1
    return n


def paced(crossings: Iterator[Crossing], speed: float, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[Crossing]:
    """``crossings`` in their real spacing divided by ``speed`` (``speed <= 0`` or infinite: no waiting). A
    consumer slower than the pace is never waited for: the next crossing comes at once."""
    first, t0 = None, None
    for c in crossings:
        if speed > 0 and math.isfinite(speed):
            if first is None:
                first, t0 = c.t_s, clock()
            wait = t0 + (c.t_s - first) / speed - clock()
            if wait > 0:
                sleep(wait)
        yield c
