"""A deterministic synthetic GR Cup season written in the exact TRD file formats.

``write_season(out_dir, seed)`` simulates 7 tracks x 2 races from a documented generative model
(docs/SAMPLE.md gives every formula), writes each race's files with the per-track folder and zip
layouts and encoding quirks of the official TRD zips, and writes ``out_dir/ground_truth.json``:
the injected parameters and the exact quality-ledger entries the ingest must produce.

Nothing here is copied or derived from real TRD rows: only the file *formats* are imitated.
Track facts (time zone, sector lengths, reference lap) come from ``params/tracks/*.yaml``.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from kaizenlap.core import params
from kaizenlap.ingest.flags import trend_residual_z
from kaizenlap.sample_telemetry import base_subsections, timing_lines, write_telemetry

GENERATOR_VERSION = 5
SUBS = ("im1a", "im1", "im2a", "im2", "im3a", "fl")      # ingest's sub-section keys, track order
SUB_STEMS = ("IM1a", "IM1", "IM2a", "IM2", "IM3a", "FL")  # TRD column stems

# ----------------------------------------------------------------------------- season constants
# Round number in the event name (I_R0N_<sunday>) and the Sunday of each weekend.
CALENDAR = {
    "sonoma": (1, "2025-03-30"), "cota": (2, "2025-04-27"), "sebring": (3, "2025-05-18"),
    "vir": (4, "2025-07-20"), "road-america": (5, "2025-08-17"), "barber": (6, "2025-09-07"),
    "indianapolis": (7, "2025-10-19"),
}
TEMP_REF_C = 30.0                 # T_ref of the track-temperature effect (season-wide)
TEMP_COEF_FRACTION = 0.0003       # gamma_track = 0.0003 * reference_lap_s  [s per degC per lap]
RACE_TARGET_S = 2700.0            # laps scheduled = clamp(round(2700 / R), 15, 25)
FCY_FACTOR = (1.32, 1.45)         # FCY laps: base sub-section x U(1.32, 1.45)
DAMP_FRACTION = (0.025, 0.040)    # a damp race: every green lap + U(2.5, 4.0) % of the reference lap
RUBBER_FRACTION = (0.001, 0.004)  # race 2 of a weekend: the track rubbered in, - U(0.1, 0.4) % of the lap
EVOLUTION_S_PER_LAP = (0.005, 0.020)   # within a race the whole field gains U(0.005, 0.020) s per lap
CLOUD_DEPTH_C = (4.0, 7.0)        # a passing cloud: track temperature dips by U(4, 7) degC mid-race
# The field's lap shape (every car, green laps): not linear in lap number, so a car's own trend cannot take it
START_FRACTION = (0.001, 0.002)   # laps 2 and 3: + U(0.1, 0.2) % of the reference lap, x (1, 0.5) (cold tyres, bunched)
SEGMENT_FRACTION = (0.0015, 0.003)  # two laps after a restart (FCY races) or of a local yellow (mid-race): + U(0.15, 0.3) %
FINAL_FRACTION = (0.0, 0.0)       # the last two laps: none (a push to the flag moved the consistency truth)
ZIP_DATE = (2025, 11, 1, 12, 0, 0)
# A consistency problem (per driver and track, both races; own random streams, so every other draw is unchanged):
# in one sub-section (never the weakest) the car makes a mistake of |N(0, 1)| x U(0.25, 0.45) s on every green
# lap (clipped at 2.5): its best times there are as good as its pace says, its typical time and scatter are not.
CONSISTENCY_PROBLEM_P = 0.08
CONSISTENCY_SCALE_S = (0.25, 0.45)

# Which irregularity goes where (each appears in at least one race).
QUIRKS: dict[str, dict[int, set[str]]] = {
    "barber": {1: {"fcy", "car0", "strip", "pits"}, 2: {"glitch", "car0", "strip", "official03_same"}},
    "cota": {1: {"shared", "official00_amended", "pits", "deleted_hidden", "cloud"},
             2: {"fcy", "deleted", "missing_sub", "pits"}},
    "indianapolis": {1: {"car03", "deleted", "official_amended", "pits"},
                     2: {"car03", "fcy", "missing_sectors", "official_same", "cloud"}},
    "road-america": {1: {"missing_sectors", "fcy", "official_same", "pits", "dnf", "damp"},
                     2: {"sentinel_999", "not_started", "official_same", "pits", "cloud"}},
    "sebring": {1: {"glitch", "pits", "dnf", "cloud"}, 2: {"fcy", "wrong_session"}},
    "sonoma": {1: {"shared", "fcy", "strip", "unlabelled_only", "pits"},
               2: {"no_weather", "elapsed_only", "unlabelled_amended", "dnf"}},
    "vir": {1: {"deleted", "pits", "official03_same"}, 2: {"fcy", "no_top_speed", "missing_sub", "dnf", "cloud"}},
}

_FIRST = ["Avery", "Blake", "Carter", "Dalton", "Emery", "Finley", "Gray", "Harper", "Jules", "Kai", "Logan",
          "Marlo", "Nico", "Oakley", "Parker", "Quinn", "Reese", "Rowan", "Sawyer", "Tatum", "Umber", "Vale",
          "Wren", "Xander", "Yael", "Zion", "Ari", "Bellamy", "Cruz", "Devon", "Ellis", "Florian", "Gale",
          "Hollis", "Indigo", "Jory"]
_LAST = ["Ashgrove", "Birchfield", "Coldwater", "Dunmore", "Elkhorn", "Fairbanks", "Glenrock", "Hartwell",
         "Ironwood", "Juniper", "Kestrel", "Larkspur", "Millbrook", "Northcott", "Oakhurst", "Pinecrest",
         "Quarry", "Ravenhill", "Stonebridge", "Thornbury", "Underhill", "Valecrest", "Westbrook", "Yarrow",
         "Zephyr", "Alder", "Brookline", "Cedarholm", "Driftwood", "Eastwick"]
_TEAMS = ["Apex Line Racing", "Redline Garage", "Late Brake Motorsport", "Trail Brake Racing",
          "Heel Toe Autosport", "Kerb Hop Racing", "Slipstream Works", "Chequered Oak Racing"]
_NUMBERS = ["2", "3", "5", "7", "8", "11", "13", "14", "16", "18", "21", "22", "24", "27", "31", "33", "38",
            "41", "46", "47", "51", "55", "57", "58", "62", "67", "72", "77", "80", "88", "93", "98", "111", "113"]

# ----------------------------------------------------------------------------- time formats


def _mss(ms: int) -> str:
    """M:SS.fff (minutes unpadded, may exceed 59)."""
    m, r = divmod(int(ms), 60000)
    s, f = divmod(r, 1000)
    return f"{m}:{s:02d}.{f:03d}"


def _strip(txt: str) -> str:
    txt = txt.rstrip("0")
    return txt + "0" if txt.endswith(".") else txt


def _sec(ms: int, strip: bool = False) -> str:
    """SS.fff under 60 s (trailing zeros dropped if ``strip``), M:SS.fff from 60 s."""
    if ms >= 60000:
        return _mss(ms)
    s, f = divmod(int(ms), 1000)
    txt = f"{s}.{f:03d}"
    return _strip(txt) if strip else txt


def _plain(ms: int) -> str:
    """Plain seconds as the *_SECONDS columns print them: 62.0, 39.57, 33.413."""
    s, f = divmod(int(ms), 1000)
    return _strip(f"{s}.{f:03d}")


def _hms(ms: int) -> str:
    h, r = divmod(int(ms), 3600000)
    m, r = divmod(r, 60000)
    s, f = divmod(r, 1000)
    return f"{h}:{m:02d}:{s:02d}.{f:03d}"


def _hour(ms_of_day: int) -> str:
    h, r = divmod(int(ms_of_day) % 86400000, 3600000)
    m, r = divmod(r, 60000)
    s, f = divmod(r, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{f:03d}"


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


_DAYS: dict[int, str] = {}


def _iso(epoch_ms: int) -> str:
    day, r = divmod(int(epoch_ms), 86400000)
    if day not in _DAYS:
        _DAYS[day] = (_EPOCH + dt.timedelta(days=day)).strftime("%Y-%m-%d")
    h, r = divmod(r, 3600000)
    m, r = divmod(r, 60000)
    sec, f = divmod(r, 1000)
    return f"{_DAYS[day]}T{h:02d}:{m:02d}:{sec:02d}.{f:03d}Z"


def _us_utc(epoch_s: int) -> str:
    d = _EPOCH + dt.timedelta(seconds=int(epoch_s))
    h12 = d.hour % 12 or 12
    return f"{d.month}/{d.day}/{d.year} {h12}:{d.minute:02d}:{d.second:02d} {'AM' if d.hour < 12 else 'PM'}"


def _gap(ms: int) -> str:
    return "+" + (_sec(ms) if ms < 60000 else _mss(ms))


def _laps_word(n: int, always_plural: bool) -> str:
    return f"{n} Lap" if (n == 1 and not always_plural) else f"{n} Laps"


# ----------------------------------------------------------------------------- model objects


@dataclass
class Driver:
    number: str
    first: str
    last: str
    team: str
    cls: str
    chassis: int
    pace: float          # season pace: fraction of the base lap (+ slower)
    noise_sd: float      # per-sub-section Gaussian SD at a sub-section of R/6 seconds
    vid_style: str       # vehicle_id number padding: plain | pad3 | as_written


@dataclass
class Car:
    car: str             # ingest's car id: number, or number-k when shared
    d: Driver
    skill: np.ndarray    # s per sub-section (pace part + idiosyncrasy), excluding the weakest loss
    weakest: int
    weakest_loss: float
    trend: float         # s per lap
    noise: np.ndarray    # SD per sub-section
    grid: int
    ecu_offset_ms: int
    ecu_lap_offset: int
    top_speed: float
    dnf_lap: int | None = None
    pit_in: list[int] = field(default_factory=list)
    stationary_s: float = 0.0
    deleted: list[int] = field(default_factory=list)
    deleted_margin_ms: int = 0
    hide_deletion: bool = False            # delete one lap slower than the best (visible only in the 99 file)
    deleted_hidden: list[int] = field(default_factory=list)
    glitch: list[tuple[int, int]] = field(default_factory=list)      # (lap, sub-section index)
    missing_sectors: list[int] = field(default_factory=list)
    missing_sub: list[int] = field(default_factory=list)
    spread_sub: int | None = None          # consistency problem: the sub-section (index), or None
    spread_scale: float = 0.0              # its mistake scale (s): |N(0, 1)| x this, every green lap
    mistake: np.ndarray | None = None      # the simulated mistake time [laps] in spread_sub (s); not in eta
    eta: np.ndarray | None = None          # the simulated noise [laps, 6] (s)
    # results of the simulation
    ms: np.ndarray | None = None           # recorded sub-section ms [laps, 6]
    lap_list: list[int] = field(default_factory=list)
    elapsed: np.ndarray | None = None      # ms at each crossing
    laps: int = 0


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in key])


def _roster(seed: int) -> list[Driver]:
    rng = _rng(seed, 1000)
    nums = list(_NUMBERS) + ["0", "03"]
    chassis = rng.permutation(np.arange(1, 80))[: len(nums)]
    firsts = rng.permutation(_FIRST)
    lasts = rng.permutation(_LAST)
    out = []
    for i, n in enumerate(nums):
        cls = "Pro" if rng.random() < 0.3 else "Am"
        pace = float(np.clip(rng.normal(0.005, 0.007), -0.012, 0.022)) - (0.004 if cls == "Pro" else 0.0)
        out.append(Driver(n, str(firsts[i % len(firsts)]), str(lasts[(i * 7) % len(lasts)]),
                          _TEAMS[int(rng.integers(len(_TEAMS)))], cls, int(chassis[i]),
                          pace, float(rng.uniform(0.05, 0.11)),
                          ["plain", "pad3", "as_written"][int(rng.integers(3))]))
    return out


# ----------------------------------------------------------------------------- one race


class RaceSim:
    def __init__(self, seed: int, tix: int, track: dict, race_no: int, roster: list[Driver]):
        self.seed, self.tix, self.track, self.race_no = seed, tix, track, race_no
        self.tid = track["track_id"]
        self.q = QUIRKS[self.tid][race_no]
        self.R = float(track["reference_lap_s"])
        rng_t = _rng(seed, tix, 0)
        lengths = np.asarray(track["sector_lengths_m"], float)
        share = lengths / lengths.sum() * rng_t.uniform(0.92, 1.08, 3)
        share /= share.sum()
        split = rng_t.uniform(0.35, 0.65, 3)
        self.split = split
        # base sub-section times: the vehicle model's nominal lap at this track between the timing lines (the
        # sub-section line at the fraction `split` of each sector's length), so the timing and the sample's
        # telemetry share one geometry; a track without corners or sector lengths: the drawn shares
        self.lines = timing_lines(track, split)
        model = base_subsections(track, split)
        self.base = model if model is not None else \
            np.array([x for i in range(3) for x in (share[i] * split[i], share[i] * (1 - split[i]))]) * self.R
        self.gamma = TEMP_COEF_FRACTION * self.R
        self.rng = rng = _rng(seed, tix, race_no)
        rnd, sunday = CALENDAR[self.tid]
        self.round = rnd
        self.sunday = dt.date.fromisoformat(sunday)
        self.date = self.sunday - dt.timedelta(days=1 if race_no == 1 else 0)
        self.tz = ZoneInfo(track["timezone"])
        start_min = (13 * 60 + 30 + int(rng.integers(0, 120))) if race_no == 1 else \
            (10 * 60 + 20 + int(rng.integers(0, 150)))
        local = dt.datetime.combine(self.date, dt.time(start_min // 60, start_min % 60, int(rng.integers(0, 60)),
                                                       int(rng.integers(0, 1000)) * 1000), self.tz)
        self.start_local_ms = ((local.hour * 60 + local.minute) * 60 + local.second) * 1000 + local.microsecond // 1000
        self.start_utc_ms = int(round(local.timestamp() * 1000))
        self.n_laps = int(np.clip(round(RACE_TARGET_S / self.R), 15, 25)) + int(rng.integers(-1, 1))
        # weather model (smooth; the file adds measurement noise)
        self.t0 = float(rng.uniform(20, 44))
        self.tdrift = float(rng.uniform(-4, 6))
        self.air0 = self.t0 - float(rng.uniform(3, 12))
        self.duration_est = self.n_laps * self.R * 1.05
        # FCY laps, same lap numbers for every car
        self.fcy: list[int] = []
        if "fcy" in self.q:
            f0 = int(rng.integers(4, self.n_laps - 6))
            self.fcy = list(range(f0, f0 + int(rng.integers(2, 4))))
        self.fcy_factor = float(rng.uniform(*FCY_FACTOR))
        # race-level effects other than temperature (own stream: the draws above are unchanged)
        re_ = _rng(seed, tix, race_no, 77)
        damp, rubber = float(re_.uniform(*DAMP_FRACTION)), float(re_.uniform(*RUBBER_FRACTION))
        self.damp = "damp" in self.q
        self.race_effect_frac = (damp if self.damp else 0.0) - (rubber if race_no == 2 else 0.0)
        self.evolution = -float(re_.uniform(*EVOLUTION_S_PER_LAP))     # s per lap, whole field
        cloud = (float(re_.uniform(*CLOUD_DEPTH_C)), float(re_.uniform(0.35, 0.65)), float(re_.uniform(0.07, 0.12)))
        self.cloud = cloud if "cloud" in self.q else None
        # the field's lap shape, s per lap number (own stream again)
        rs = _rng(seed, tix, race_no, 78)
        shape = np.zeros(self.n_laps + 1)
        start, seg, final = (float(rs.uniform(*f)) * self.R for f in (START_FRACTION, SEGMENT_FRACTION, FINAL_FRACTION))
        shape[2] += start
        shape[3] += 0.5 * start
        s0 = (self.fcy[-1] + 2) if self.fcy else int(rs.integers(int(0.3 * self.n_laps), int(0.7 * self.n_laps)))
        shape[s0] += seg
        shape[s0 + 1] += seg if not self.fcy else 0.5 * seg
        shape[self.n_laps - 1] -= 0.5 * final
        shape[self.n_laps] -= final
        self.lap_shape = shape
        self.segment_start = s0
        self._entries(roster)

    # -- entry list and per-car parameters
    def _entries(self, roster: list[Driver]) -> None:
        rng = self.rng
        pool = [d for d in roster if d.number not in ("0", "03")]
        n = int(rng.integers(20, 28))
        chosen = [pool[i] for i in sorted(rng.choice(len(pool), size=min(n, len(pool)), replace=False))]
        if "car0" in self.q:
            chosen.append(next(d for d in roster if d.number == "0"))
        if "car03" in self.q:
            chosen.append(next(d for d in roster if d.number == "03"))
            if not any(d.number == "3" for d in chosen):
                chosen.append(next(d for d in roster if d.number == "3"))
        if "shared" in self.q:  # a guest entry borrows the number of an entered car
            host = chosen[int(rng.integers(len(chosen)))]
            guest = Driver(host.number, str(rng.choice(_FIRST)), str(rng.choice(_LAST)), str(rng.choice(_TEAMS)),
                           "Am", int(rng.integers(80, 99)), float(rng.uniform(0.004, 0.015)),
                           float(rng.uniform(0.05, 0.10)), "plain")
            chosen.append(guest)
        # per-track driver traits (same at both races of a track): idiosyncrasy and weakest sub-section
        cars = []
        qual = []
        for d in chosen:
            rt = _rng(self.seed, self.tix, 0, d.chassis, sum(map(ord, d.number + d.last)))
            idio = rt.normal(0.0, 0.004, 6) * self.base
            weakest = int(rt.integers(6))
            loss = float(rt.uniform(0.20, 0.80)) if rt.random() < 0.85 else float(rt.uniform(0.05, 0.19))
            skill = self.base * d.pace + idio
            noise = d.noise_sd * np.sqrt(self.base / (self.R / 6))
            trend = float(rng.uniform(-0.08, 0.08))
            cars.append(Car("", d, skill, weakest, loss, trend, noise, 0,
                            int(rng.integers(-800, 800)), int(rng.integers(0, 3)),
                            float(rng.uniform(-2.0, 2.0))))
            rc = _rng(self.seed, self.tix, 0, d.chassis, sum(map(ord, d.number + d.last)), 91)   # own stream
            if rc.random() < CONSISTENCY_PROBLEM_P:
                cars[-1].spread_sub = int([j for j in range(6) if j != weakest][int(rc.integers(5))])
                cars[-1].spread_scale = float(rc.uniform(*CONSISTENCY_SCALE_S))
            qual.append(float(skill.sum() + loss + rng.normal(0, 0.25)))
        for g, i in enumerate(np.argsort(qual, kind="stable")):
            cars[i].grid = g
        # file order: number as text, cars sharing a number adjacent
        cars.sort(key=lambda c: (c.d.number, c.d.chassis))
        counts: dict[str, int] = {}
        for c in cars:
            counts[c.d.number] = counts.get(c.d.number, 0) + 1
        seen: dict[str, int] = {}
        for c in cars:
            seen[c.d.number] = seen.get(c.d.number, 0) + 1
            c.car = f"{c.d.number}-{seen[c.d.number]}" if counts[c.d.number] > 1 else c.d.number
        self.cars = cars
        self.shared = sorted(n for n, k in counts.items() if k > 1)
        self._injections()

    def _injections(self) -> None:
        rng, N = self.rng, self.n_laps
        cars = self.cars
        order = [int(i) for i in rng.permutation(len(cars))]
        busy: set[str] = set()

        def pick(k: int) -> list[Car]:
            out = []
            for i in order:
                c = cars[i]
                if c.car not in busy and c.d.number not in self.shared:
                    out.append(c)
                    busy.add(c.car)
                if len(out) == k:
                    break
            return out

        forbidden = set(self.fcy) | {f + 1 for f in self.fcy} | {1, 2}

        def free_laps(c: Car, lo: int = 3, hi: int | None = None) -> list[int]:
            hi = (N - 3) if hi is None else hi
            bad = forbidden | set(c.pit_in) | {p + 1 for p in c.pit_in}
            return [k for k in range(lo, hi + 1) if k not in bad]

        if "dnf" in self.q:
            for c in pick(1):
                c.dnf_lap = int(rng.integers(N // 3, 2 * N // 3))
        if "pits" in self.q:
            for c in pick(int(rng.integers(1, 4))):
                p = int(rng.choice(free_laps(c, 4, N - 4)))
                c.pit_in = [p]
                c.stationary_s = float(rng.choice([0.0, float(rng.uniform(5, 40))]))
        if "deleted" in self.q:
            for c in pick(1):
                c.deleted = [int(rng.choice(free_laps(c, 4, N - 5)))]
                c.deleted_margin_ms = int(rng.integers(300, 900))
        if "deleted_hidden" in self.q:
            for c in pick(1):
                c.hide_deletion = True
        if "glitch" in self.q:
            for c in pick(2 if self.tid == "sebring" else 1):
                lap = int(rng.choice(free_laps(c)))
                c.glitch = [(lap, int(rng.choice([0, 2, 4])))]
        if "missing_sectors" in self.q:
            for i, c in enumerate(pick(3 if self.tid == "road-america" else 1)):
                laps = free_laps(c)
                c.missing_sectors = sorted(int(x) for x in rng.choice(laps, size=2 if i == 0 else 1, replace=False))
        if "missing_sub" in self.q:
            for c in pick(1):
                c.missing_sub = [int(rng.choice(free_laps(c)))]
        for c in cars:
            if c.dnf_lap is not None:
                for attr in ("deleted", "missing_sectors", "missing_sub"):
                    setattr(c, attr, [k for k in getattr(c, attr) if k < c.dnf_lap - 1])
                c.glitch = [g for g in c.glitch if g[0] < c.dnf_lap - 1]
                c.pit_in = [p for p in c.pit_in if p < c.dnf_lap - 2]

    # -- temperature
    def track_temp(self, t_s: float) -> float:
        u = t_s / self.duration_est
        return self.t0 + self.tdrift * u + 0.6 * np.sin(2 * np.pi * u * 0.7) - self.cloud_dip(u)

    def cloud_dip(self, u: float) -> float:
        if self.cloud is None:
            return 0.0
        depth, centre, width = self.cloud
        return depth * float(np.exp(-0.5 * ((u - centre) / width) ** 2))

    # -- lap generation
    def _simulate_car(self, c: Car, eta: np.ndarray) -> None:
        N = c.dnf_lap or self.n_laps
        k = np.arange(1, N + 1)
        frac = self.base / self.R
        pit_lane = float(self.track.get("pit_lane_s", 40))
        green = ~np.isin(k, self.fcy)
        rows = (self.base * (1 + self.race_effect_frac) + c.skill + np.outer((c.trend + self.evolution) * (k - 1), frac)
                + eta)
        rows[:, c.weakest] += c.weakest_loss
        if c.spread_sub is not None:
            rows[:, c.spread_sub] += c.mistake[:N]
        rows[0, 0] += 0.6 * (0.04 * self.R + 0.35 * c.grid)          # lap 1: start and grid position
        rows[0, 1] += 0.4 * (0.04 * self.R + 0.35 * c.grid)
        rows[green & np.isin(k - 1, self.fcy), 0] += 0.015 * self.R  # restart lap
        rows += np.outer(self.lap_shape[k], frac)                   # the field's lap shape (green laps)
        fcy_rows = self.base * self.fcy_factor * (1 + 0.01 * eta / np.maximum(c.noise, 1e-9))
        rows = np.where(green[:, None], rows, fcy_rows)
        pit_in = np.isin(k, c.pit_in) | ((k == N) & (c.dnf_lap is not None))
        rows[pit_in, 5] += 0.45 * pit_lane
        rows[np.isin(k - 1, c.pit_in), 0] += 0.55 * pit_lane + c.stationary_s + 1.0
        # track temperature at mid-lap (sequential: the crossing times depend on the lap times)
        totals = rows.sum(axis=1)
        temp_s = np.zeros(N)
        t = 0.0
        for i in range(N):
            if green[i]:
                temp_s[i] = self.gamma * (self.track_temp(t + self.R / 2) - TEMP_REF_C)
            t += totals[i] + temp_s[i]
        rows += np.outer(temp_s, frac)
        ms = np.rint(rows * 1000).astype(np.int64)
        # deleted lap: a track-limits lap faster than every eligible lap of the car
        for kd in c.deleted:
            lap_ms = ms.sum(axis=1)
            others = [lap_ms[j - 1] for j in range(2, N + 1) if j != kd]
            cut = int(lap_ms[kd - 1] - min(others)) + c.deleted_margin_ms
            two = np.argsort(-ms[kd - 1], kind="stable")[:2]     # the corner cut: the two longest sub-sections
            ms[kd - 1, two[0]] -= cut - cut // 2
            ms[kd - 1, two[1]] -= cut // 2
        c.ms = ms
        c.lap_list = [int(x) for x in ms.sum(axis=1)]
        c.elapsed = np.cumsum(ms.sum(axis=1))

    def simulate(self) -> None:
        eta = {}
        for c in self.cars:
            n = c.dnf_lap or self.n_laps
            z = np.clip(self.rng.standard_normal((n, 6)), -2.5, 2.5)
            eta[c.car] = z * c.noise
            if c.spread_sub is not None:   # own stream per car: the draws above are unchanged
                rm = _rng(self.seed, self.tix, self.race_no, 79, c.d.chassis)
                c.mistake = np.abs(np.clip(rm.standard_normal(n), -2.5, 2.5)) * c.spread_scale
        for it in range(20):
            for c in self.cars:
                self._simulate_car(c, eta[c.car])
            self._finish()
            self._pick_hidden()
            changed = False
            for c in self.cars:
                for k, excess in self._outliers(c):
                    # outlier guard: shrink the lap's noise; if the model's structure alone makes it an
                    # outlier, move the lap to |modified z| = 2.5 instead
                    if it < 2:
                        eta[c.car][k - 1] *= 0.4
                        if c.mistake is not None:
                            c.mistake[k - 1] *= 0.4
                    else:
                        eta[c.car][k - 1] -= excess * self.base / self.R
                    changed = True
            if not changed:
                break
        for c in self.cars:
            c.eta = eta[c.car]                 # the noise as simulated (ground truth for coverage studies)
        self._glitches()

    def _pick_hidden(self) -> None:
        """The hidden deletion: the car's 3rd-best eligible lap (inside its best-10 cut-off)."""
        for c in self.cars:
            if c.hide_deletion:
                c.deleted_hidden = []
                glitch = {g[0] for g in c.glitch}
                ranked = sorted((self.lap_ms(c, k), k) for k in self.eligible(c)
                                if k not in glitch and k not in c.missing_sectors and k not in c.missing_sub
                                and (k - 1) not in self.fcy)
                c.deleted_hidden = [ranked[2][1]]

    def _finish(self) -> None:
        N = self.n_laps
        finishers = [c for c in self.cars if c.dnf_lap is None]
        t_leader = min(int(c.elapsed[N - 1]) for c in finishers)
        for c in self.cars:
            if c.dnf_lap is not None:
                c.laps = c.dnf_lap
            else:
                c.laps = int(np.argmax(c.elapsed >= t_leader)) + 1

    def basic(self, c: Car, k: int) -> bool:
        return (k == 1 or k in self.fcy or (k - 1) in self.fcy or k in c.pit_in or (k - 1) in c.pit_in
                or (c.dnf_lap is not None and k == c.laps))

    def _outliers(self, c: Car) -> list[tuple[int, float]]:
        """Laps the ingest's robust outlier rule could flag (|z| > 3.0 of the residual from the car's
        Theil-Sen trend, a margin under its 3.5; kaizenlap.ingest.flags.trend_residual_z)."""
        glitch = {g[0] for g in c.glitch}
        ks = [k for k in range(1, c.laps + 1) if not self.basic(c, k) and k not in c.deleted
              and k not in c.deleted_hidden
              and k not in glitch and k not in c.missing_sectors]
        if len(ks) < 5:
            return []
        x = np.array([c.lap_list[k - 1] for k in ks], float) / 1000
        z, scale = trend_residual_z(np.array(ks, float), x)
        if not np.isfinite(scale) or scale == 0:
            return []
        return [(k, float((v - np.sign(v) * 2.5) * scale)) for k, v in zip(ks, z) if abs(v) > 3.0]

    def _glitches(self) -> None:
        for c in self.cars:
            for k, j in c.glitch:
                true = int(c.ms[k - 1, j])
                rec = int(round(true * float(self.rng.uniform(0.30, 0.50))))
                c.ms[k - 1, j] = rec
                c.ms[k - 1, j + 1] += true - rec      # the split point fired early: sector unchanged

    # -- derived official facts
    def pit_in_laps(self, c: Car) -> set[int]:
        return set(c.pit_in) | ({c.laps} if c.dnf_lap is not None else set())

    def eligible(self, c: Car) -> list[int]:
        """Laps the officials rank (99 file, FL_TIME, LAP_IMPROVEMENT): never lap 1, a deleted lap, or a
        lap that ends (CROSSING_FINISH_LINE_IN_PIT = B) or begins (the out-lap) in the pit lane."""
        pit = self.pit_in_laps(c)
        return [k for k in range(2, c.laps + 1) if k not in c.deleted and k not in c.deleted_hidden
                and k not in pit and (k - 1) not in pit]

    def lap_ms(self, c: Car, k: int) -> int:
        return c.lap_list[k - 1]

    def best(self, c: Car) -> tuple[int, int] | None:
        el = self.eligible(c)
        if not el:
            return None
        k = min(el, key=lambda j: (self.lap_ms(c, j), j))
        return k, self.lap_ms(c, k)

    def classification(self) -> list[Car]:
        return sorted(self.cars, key=lambda c: (-c.laps, int(c.elapsed[c.laps - 1])))


# ----------------------------------------------------------------------------- file writers

def _lines(rows: list[list[str]], style: str) -> bytes:
    """style: lf | crlf | indy (BOM, CRLF, trailing ';')."""
    if style == "indy":
        text = "".join(";".join(r) + ";\r\n" for r in rows)
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    nl = "\r\n" if style == "crlf" else "\n"
    return "".join(";".join(r) + nl for r in rows).encode("utf-8")


SEC_COLS = ["NUMBER", "DRIVER_NUMBER", "LAP_NUMBER", "LAP_TIME", "LAP_IMPROVEMENT", "CROSSING_FINISH_LINE_IN_PIT",
            "S1", "S1_IMPROVEMENT", "S2", "S2_IMPROVEMENT", "S3", "S3_IMPROVEMENT", "KPH", "ELAPSED", "HOUR",
            "S1_LARGE", "S2_LARGE", "S3_LARGE", "TOP_SPEED", "PIT_TIME", "CLASS", "GROUP", "MANUFACTURER",
            "FLAG_AT_FL", "S1_SECONDS", "S2_SECONDS", "S3_SECONDS", "IM1a_time", "IM1a_elapsed", "IM1_time",
            "IM1_elapsed", "IM2a_time", "IM2a_elapsed", "IM2_time", "IM2_elapsed", "IM3a_time", "IM3a_elapsed",
            "FL_time", "FL_elapsed"]


def _improvements(sim: RaceSim) -> dict[tuple[str, int], list[int]]:
    """(car, lap) -> [LAP_IMPROVEMENT, S1_, S2_, S3_IMPROVEMENT]: 2 = car's best (eligible laps), 3 = overall."""
    out: dict[tuple[str, int], list[int]] = {}
    for c in sim.cars:
        for k in range(1, c.laps + 1):
            out[(c.car, k)] = [0, 0, 0, 0]
    for col in range(4):
        best_overall = None
        for c in sim.cars:
            cand = []
            for k in sim.eligible(c):
                if col == 0:
                    v = sim.lap_ms(c, k)
                else:
                    if k in c.missing_sectors and col in (1, 2):
                        continue
                    v = int(c.ms[k - 1, 2 * (col - 1)] + c.ms[k - 1, 2 * (col - 1) + 1])
                cand.append((v, k))
            if not cand:
                continue
            v, k = min(cand)
            out[(c.car, k)][col] = 2
            if best_overall is None or v < best_overall[0]:
                best_overall = (v, c.car, k)
        if best_overall:
            out[(best_overall[1], best_overall[2])][col] = 3
    return out


def _sections_file(sim: RaceSim, indy: bool, sonoma: bool) -> bytes:
    strip = "strip" in sim.q
    elapsed_only = "elapsed_only" in sim.q
    length = float(sim.track["length_m"])
    cols = list(SEC_COLS)
    if indy:
        cols.insert(cols.index("TOP_SPEED") + 1, "DRIVER_NAME")
        cols.insert(cols.index("GROUP") + 1, "TEAM")
    if sonoma:
        cols = [c.replace("IM1_", "INT-1_").replace("IM2_", "INT-2_") for c in cols]
    header = "; ".join(cols[:15]) + ";" + ";".join(cols[15:])
    keys = [name.replace("INT-1_", "IM1_").replace("INT-2_", "IM2_") for name in cols]
    rows = []
    imp = _improvements(sim)
    trng = _rng(sim.seed, sim.tix, sim.race_no, 23)
    top_base = 170 + 0.2 * sim.R
    for c in sim.cars:
        all_ms = c.ms.tolist()
        all_el = c.elapsed.tolist()
        for k in range(1, c.laps + 1):
            ms = all_ms[k - 1]
            sect = [ms[0] + ms[1], ms[2] + ms[3], ms[4] + ms[5]]
            lap = sum(sect)
            cum = list(itertools.accumulate(ms))
            el = all_el[k - 1]
            hour = sim.start_local_ms + el
            flag = "FCY" if k in sim.fcy else ("FF" if (k == c.laps and c.dnf_lap is None) else "GF")
            pit_in = k in c.pit_in or (c.dnf_lap is not None and k == c.laps)
            pit_time = ""
            if k - 1 in c.pit_in:
                pt = float(sim.track.get("pit_lane_s", 40)) + c.stationary_s + float(trng.normal(0, 0.4))
                pit_time = _hms(int(round(pt * 1000)))
            top = "" if "no_top_speed" in sim.q else \
                f"{top_base + c.top_speed + trng.normal(0, 0.8) - (25 if k in sim.fcy else 0):.1f}"
            li = imp[(c.car, k)]
            v = {
                "NUMBER": c.d.number, "DRIVER_NUMBER": "1", "LAP_NUMBER": str(k), "LAP_TIME": _mss(lap),
                "LAP_IMPROVEMENT": str(li[0]), "CROSSING_FINISH_LINE_IN_PIT": "B" if pit_in else "",
                "KPH": f"{length / (lap / 1000) * 3.6:.1f}", "ELAPSED": _mss(el), "HOUR": _hour(hour),
                "TOP_SPEED": top, "PIT_TIME": pit_time, "CLASS": c.d.cls, "GROUP": "",
                "MANUFACTURER": "Toyota Gazoo Racing", "FLAG_AT_FL": flag,
                "DRIVER_NAME": f"{c.d.first} {c.d.last}", "TEAM": c.d.team,
            }
            for i in range(3):
                n = i + 1
                v[f"S{n}"] = _sec(sect[i], strip)
                v[f"S{n}_IMPROVEMENT"] = str(li[n])
                v[f"S{n}_LARGE"] = _mss(sect[i])
                v[f"S{n}_SECONDS"] = _plain(sect[i])
            for j, stem in enumerate(SUB_STEMS):
                v[f"{stem}_time"] = "" if elapsed_only else _sec(ms[j], strip)
                v[f"{stem}_elapsed"] = _sec(cum[j])
            if k in c.missing_sectors:   # the S1/S2 boundary loop did not fire
                for n in (1, 2):
                    for f in (f"S{n}", f"S{n}_SECONDS", f"S{n}_LARGE"):
                        v[f] = ""
                for f in ("IM1_time", "IM1_elapsed", "IM2a_time"):
                    v[f] = ""
            if k in c.missing_sub:       # the IM2a loop did not fire: two sub-sections unknown
                for f in ("IM2a_time", "IM2a_elapsed", "IM2_time"):
                    v[f] = ""
            rows.append([v[key] for key in keys])
    body = _lines([[header]] + rows, "indy" if indy else "lf")
    return body


def _weather_file(sim: RaceSim, indy: bool) -> bytes:
    rng = _rng(sim.seed, sim.tix, sim.race_no, 26)
    last = max(int(c.elapsed[c.laps - 1]) for c in sim.cars)
    t = sim.start_utc_ms // 1000 - int(rng.integers(60, 300))
    end = (sim.start_utc_ms + last) // 1000 + int(rng.integers(60, 240))
    rows = [["TIME_UTC_SECONDS", "TIME_UTC_STR", "AIR_TEMP", "TRACK_TEMP", "HUMIDITY", "PRESSURE", "WIND_SPEED",
             "WIND_DIRECTION", "RAIN"]]
    hum0, p0, wdir = float(rng.uniform(40, 80)), float(rng.uniform(975, 1015)), float(rng.uniform(0, 360))
    if sim.damp:                       # a damp race: near-saturated air
        hum0 = 93.0 + 3.0 * (hum0 - 40.0) / 40.0
    i = 0
    n_rows = int((end - t) / 63) + 1
    bad_lo, bad_hi = (n_rows // 4, n_rows // 4 + max(3, n_rows // 3)) if "sentinel_999" in sim.q else (-1, -1)
    while t <= end:
        race_t = t - sim.start_utc_ms / 1000
        u = race_t / sim.duration_est
        air = sim.air0 + 0.5 * sim.tdrift * u - 0.5 * sim.cloud_dip(u) + rng.normal(0, 0.05)
        track = sim.track_temp(race_t) + rng.normal(0, 0.08)
        track_txt = "0" if sim.tid == "barber" else f"{round(track, 1)}"
        if bad_lo <= i < bad_hi and i % 3 == 0:
            track_txt = "-999.0"
        wind = round(max(0.0, rng.normal(1.5, 0.9)), 1) * 3.6
        humidity = round(min(hum0 - 3 * u + rng.normal(0, 0.3), 100.0), 2)
        rows.append([str(t), _us_utc(t), f"{round(air, 2)}", track_txt, f"{humidity}",
                     f"{round(p0 + rng.normal(0, 0.05), 1)}", f"{round(wind, 2)}",
                     str(int((wdir + rng.normal(0, 40)) % 360)), "0"])
        t += int(rng.choice([62, 63, 63, 63, 64]))
        i += 1
    return _lines(rows, "indy" if indy else "lf")


def _best10_file(sim: RaceSim, indy: bool) -> bytes:
    head = ["NUMBER"] + (["TEAM"] if indy else []) + ["VEHICLE", "CLASS"] + \
        (["FIRSTNAME", "SECONDNAME"] if indy else []) + ["TOTAL_DRIVER_LAPS"]
    for k in range(1, 11):
        head += [f"BESTLAP_{k}", f"BESTLAP_{k}_LAPNUM"]
    head.append("AVERAGE")
    rows = [head]
    for c in sorted(sim.cars, key=lambda c: (int(c.d.number), c.d.number, c.car)):
        el = sorted((sim.lap_ms(c, k), k) for k in sim.eligible(c))[:10]
        row = [c.d.number] + ([c.d.team] if indy else []) + ["Toyota GR86", c.d.cls] + \
            ([c.d.first, c.d.last] if indy else []) + [str(c.laps)]
        for i in range(10):
            row += [_mss(el[i][0]), str(el[i][1])] if i < len(el) else ["", "0"]
        row.append(_mss(int(round(sum(x for x, _ in el) / len(el)))) if el else "")
        rows.append(row)
    return _lines(rows, "indy" if indy else "lf")


_RES_EXTRA = ["TIRES", "ECM Participant Id", "ECM Team Id", "ECM Category Id", "ECM Car Id", "ECM Brand Id",
              "ECM Country Id", "*Extra 7", "*Extra 8", "*Extra 9", "Sort Key"]
_RES_DRIVER_INDY = ["DRIVER_FIRSTNAME", "DRIVER_SECONDNAME", "DRIVER_LICENSE", "DRIVER_HOMETOWN", "DRIVER_COUNTRY",
                    "DRIVER_SHORTNAME", "DRIVER_ECM Driver Id", "DRIVER_ECM Country Id", "DRIVER_*Extra 3",
                    "DRIVER_*Extra 4", "DRIVER_*Extra 5"]


def _standings(sim: RaceSim, penalty: tuple[str, int] | None) -> list[dict[str, Any]]:
    """Classified order (laps desc, total time asc) with an optional time penalty (car, ms)."""
    out = []
    for c in sim.cars:
        total = int(c.elapsed[c.laps - 1]) + (penalty[1] if penalty and penalty[0] == c.car else 0)
        b = sim.best(c)
        out.append({"car": c, "laps": c.laps, "total": total, "best": b})
    out.sort(key=lambda r: (-r["laps"], r["total"]))
    for i, r in enumerate(out):
        r["pos"] = i + 1
    return out


def _gaps(row: dict, ref: dict, prev: dict | None, plural: bool) -> tuple[str, str]:
    """GAP_FIRST and GAP_PREVIOUS of ``row`` behind ``ref`` (the leader) and ``prev``."""
    def one(a: dict, b: dict) -> str:
        if a["laps"] != b["laps"]:
            return _laps_word(b["laps"] - a["laps"], plural)
        return _gap(a["total"] - b["total"])
    return one(row, ref), (one(row, prev) if prev else "")


def _results_overall(sim: RaceSim, penalty, indy: bool, style: str, pos_float: bool) -> bytes:
    length = float(sim.track["length_m"])
    head = ["POSITION", "NUMBER", "STATUS", "LAPS", "TOTAL_TIME", "GAP_FIRST", "GAP_PREVIOUS", "FL_LAPNUM",
            "FL_TIME", "FL_KPH"] + (["TEAM"] if indy else []) + ["CLASS", "GROUP", "DIVISION", "VEHICLE"] + \
        _RES_EXTRA + (_RES_DRIVER_INDY if indy else ["DRIVER_*Extra 3", "DRIVER_*Extra 4", "DRIVER_*Extra 5"])
    rows = [head]
    st = _standings(sim, penalty)
    for i, r in enumerate(st):
        c = r["car"]
        if i == 0:
            g1, g2 = "-", "-"
        else:
            g1, g2 = _gaps(r, st[0], st[i - 1], False)
        b = r["best"]
        fl = [str(b[0]), _mss(b[1]), f"{length / (b[1] / 1000) * 3.6:.1f}"] if b else ["0", "", ""]
        row = [f"{r['pos']}.0" if pos_float else str(r["pos"]), c.d.number, "Classified", str(r["laps"]),
               _mss(r["total"]), g1, g2] + fl + ([c.d.team] if indy else []) + \
            [c.d.cls, "", "GR Cup", "Toyota GR86"] + [""] * len(_RES_EXTRA)
        row += ([c.d.first, c.d.last, "", "", "USA"] + [""] * 6) if indy else ["", "", ""]
        rows.append(row)
    if "not_started" in sim.q:
        row = ["", sim.not_started.number, "Not started", "0", "", "", "", "0", "", "",
               sim.not_started.cls, "", "GR Cup", "Toyota GR86"] + [""] * (len(_RES_EXTRA) + 3)
        rows.append(row)
    return _lines(rows, "indy" if indy else style)


def _results_class(sim: RaceSim, penalty, indy: bool, style: str) -> bytes:
    length = float(sim.track["length_m"])
    head = ["CLASS_TYPE", "POS", "PIC", "NUMBER"] + (["TEAM"] if indy else []) + ["VEHICLE"] + \
        (["DRIVER"] if indy else []) + ["LAPS", "ELAPSED", "GAP_FIRST", "GAP_PREVIOUS", "BEST_LAP_NUM",
                                        "BEST_LAP_TIME", "BEST_LAP_KPH"]
    rows = [head]
    st = _standings(sim, penalty)
    for cls in ("Pro", "Am"):
        sub = [r for r in st if r["car"].d.cls == cls]
        for i, r in enumerate(sub):
            c = r["car"]
            g1, g2 = ("", "") if i == 0 else _gaps(r, sub[0], sub[i - 1], True)
            b = r["best"]
            fl = [str(b[0]), _mss(b[1]), f"{length / (b[1] / 1000) * 3.6:.1f}"] if b else ["0", "", ""]
            rows.append([cls, str(r["pos"]), str(i + 1), c.d.number] + ([c.d.team] if indy else []) +
                        ["Toyota GR86"] + ([f"{c.d.first} {c.d.last}"] if indy else []) +
                        [str(r["laps"]), _mss(r["total"]), g1, g2] + fl)
        if "not_started" in sim.q and sim.not_started.cls == cls:
            lead = sub[0]["laps"] if sub else 0
            rows.append([cls, str(len(st) + 1), str(len(sub) + 1), sim.not_started.number, "Toyota GR86", "0", "",
                         _laps_word(lead, True), _laps_word(sub[-1]["laps"] if sub else 0, True), "0", "", ""])
    return _lines(rows, "indy" if indy else style)


# -- car-side lap events

def _vehicle_id(c: Car) -> str:
    n = c.d.number
    if n == "0":
        num = "000"
    elif c.d.vid_style == "pad3":
        num = f"{int(n):03d}"
    elif c.d.vid_style == "plain":
        num = str(int(n))
    else:
        num = n
    return f"GR86-{c.d.chassis:03d}-{num}"


def _events(sim: RaceSim, role: str, source: str) -> list[dict[str, Any]]:
    rng = _rng(sim.seed, sim.tix, sim.race_no, {"lap_time": 1, "lap_start": 2, "lap_end": 3}[role])
    meta_event = f"I_R{sim.round:02d}_{sim.sunday.isoformat()}"
    session = f"R{sim.race_no}"
    out = []
    for c in sim.cars:
        vid, number = _vehicle_id(c), int(c.d.number)
        n = c.laps
        jitter = rng.integers(0, 4, n)
        delay = rng.integers(50, 3000, n + 1)
        dup = rng.random(n) < 0.015
        dup_ms = rng.integers(1, 4, n)
        lap0 = rng.random() < 0.3
        junk_ts = sim.start_utc_ms - int(rng.integers(40_000, 200_000))
        evs = [(junk_ts, 32768, int(rng.integers(900_000, 2_900_000)))]
        ts = sim.start_utc_ms + c.elapsed[:n] + c.ecu_offset_ms + jitter + (1 if role == "lap_start" else 0)
        prev = None
        for i in range(n):
            t = int(ts[i])
            lap = i + 1 + c.ecu_lap_offset + (1 if role == "lap_start" else 0)
            if i == 0 and lap0:
                lap = 0
            dur = (t - prev) if prev is not None else int(c.elapsed[0]) + int(jitter[0])
            evs.append((t, lap, dur))
            if dup[i]:                         # duplicate event milliseconds apart
                evs.append((t + int(dup_ms[i]), lap, dur))
            prev = t
        for j, (t, lap, dur) in enumerate(evs):
            out.append({"ts": t, "meta_time": t + int(delay[min(j, n)]), "lap": lap, "value": dur,
                        "vid": vid, "number": number, "meta_event": meta_event, "session": session,
                        "source": source})
    return out


def _events_file(sim: RaceSim, role: str, schema: int, source: str = "kafka:gr-raw") -> bytes:
    ev = _events(sim, role, source)
    if schema == 1:
        ev.sort(key=lambda e: (e["vid"], e["ts"]))
        rows = ["expire_at,lap,meta_event,meta_session,meta_source,meta_time,original_vehicle_id,outing,timestamp,"
                "vehicle_id,vehicle_number"]
        rows += [f",{e['lap']},{e['meta_event']},{e['session']},{e['source']},{_iso(e['meta_time'])},{e['vid']},0,"
                 f"{_iso(e['ts'])},{e['vid']},{e['number']}" for e in ev]
        return ("\r\n".join(rows) + "\r\n").encode()
    if schema == 2:
        ev.sort(key=lambda e: (e["meta_time"], e["vid"]))
        rows = ["expire_at,lap,meta_event,meta_session,meta_source,meta_time,outing,timestamp,value,vehicle_id"]
        for e in ev:
            value = str(e["value"]) if role == "lap_time" else _iso(e["ts"])
            rows.append(f",{e['lap']},{e['meta_event']},{e['session']},{e['source']},{_iso(e['meta_time'])},0,"
                        f"{_iso(e['ts'])},{value},{e['vid']}")
        return ("\r\n".join(rows) + "\r\n").encode()
    # schema 3: quoted strings, LF, no final newline; value/expire_at order differs by role
    ev.sort(key=lambda e: (e["vid"], -e["ts"]))
    if role == "lap_time":
        rows = ['"meta_source","meta_time","meta_event","meta_session","timestamp","vehicle_id","outing","lap",'
                '"value","expire_at"']
        rows += [f'"{e["source"]}","{_iso(e["meta_time"])}","{e["meta_event"]}","{e["session"]}","{_iso(e["ts"])}",'
                 f'"{e["vid"]}",0,{e["lap"]},{e["value"]},' for e in ev]
    else:
        rows = ['"meta_source","meta_time","meta_event","meta_session","timestamp","vehicle_id","outing","lap",'
                '"expire_at","value"']
        rows += [f'"{e["source"]}","{_iso(e["meta_time"])}","{e["meta_event"]}","{e["session"]}","{_iso(e["ts"])}",'
                 f'"{e["vid"]}",0,{e["lap"]},,"{_iso(e["ts"])}"' for e in ev]
    return "\n".join(rows).encode()


# ----------------------------------------------------------------------------- layouts

def _race_files(sim: RaceSim, other: RaceSim | None) -> tuple[dict[str, bytes], int]:
    """Relative path -> bytes for one race (within its track's root), and the number of amended files."""
    tid, n, q = sim.tid, sim.race_no, sim.q
    files: dict[str, bytes] = {}
    amended = 0
    pen_car = sim.classification()[min(2, len(sim.cars) - 1)].car
    penalty = (pen_car, 10_000)
    if tid == "barber":
        d, sfx = "", f"_Race {n}_Anonymized.CSV"
        files[f"23_AnalysisEnduranceWithSections{sfx}"] = _sections_file(sim, False, False)
        files[f"26_Weather{sfx}"] = _weather_file(sim, False)
        files[f"99_Best 10 Laps By Driver{sfx}"] = _best10_file(sim, False)
        files[f"03_Provisional Results{sfx}"] = _results_overall(sim, None, False, "lf", False)
        files[f"05_Provisional Results by Class{sfx}"] = _results_class(sim, None, False, "lf")
        if n == 1:
            files[f"05_Results by Class GR Cup Race {n} Official_Anonymized.CSV"] = \
                _results_class(sim, None, False, "lf")
        else:
            files[f"03_Results GR Cup Race {n} Official_Anonymized.CSV"] = \
                _results_overall(sim, None, False, "lf", False)
        for role in ("time", "start", "end"):
            files[f"R{n}_barber_lap_{role}.csv"] = _events_file(sim, f"lap_{role}", 1)
        root = "barber"
    elif tid == "cota":
        d = f"Race {n}/"
        sfx = f"_Race {n}_Anonymized.CSV" if n == 1 else f"_ Race {n}_Anonymized.CSV"
        files[d + f"23_AnalysisEnduranceWithSections{sfx}"] = _sections_file(sim, False, False)
        files[d + f"26_Weather{sfx}"] = _weather_file(sim, False)
        files[d + f"99_Best 10 Laps By Driver{sfx}"] = _best10_file(sim, False)
        files[d + f"03_Provisional Results{sfx}"] = _results_overall(sim, None, False, "lf", False)
        files[d + f"05_Provisional Results by Class{sfx}"] = _results_class(sim, None, False, "lf")
        if "official00_amended" in q:
            files[d + f"00_Results GR Cup Race {n} Official_Anonymized.CSV"] = \
                _results_overall(sim, penalty, False, "lf", False)
            amended += 1
        for role, name in (("lap_time", "lap_time"), ("lap_start", "lap_start_time"), ("lap_end", "lap_end_time")):
            files[d + f"COTA_{name}_R{n}.csv"] = _events_file(sim, role, 3)
        root = "COTA"
    elif tid == "indianapolis":
        sfx = f"_Race {n}.CSV"
        files[f"23_AnalysisEnduranceWithSections{sfx}"] = _sections_file(sim, True, False)
        files[f"26_Weather{sfx}"] = _weather_file(sim, True)
        files[f"99_Best 10 Laps By Driver{sfx}"] = _best10_file(sim, True)
        files[f"03_Provisional Results{sfx}"] = _results_overall(sim, None, True, "indy", False)
        files[f"05_Provisional Results by Class{sfx}"] = _results_class(sim, None, True, "indy")
        pen = penalty if "official_amended" in q else None
        files[f"03_GR Cup Race {n} Official Results.CSV"] = _results_overall(sim, pen, True, "indy", False)
        files[f"05_GR Cup Race {n} Official Results by Class.CSV"] = _results_class(sim, pen, True, "indy")
        amended += 2 if pen else 0
        for role in ("time", "start", "end"):
            files[f"R{n}_indianapolis_motor_speedway_lap_{role}.csv"] = \
                _events_file(sim, f"lap_{role}", 1, "kafka:gr-cup-raw")
        root = "indianapolis"
    elif tid == "road-america":
        d, sfx = f"Road America/Race {n}/", f"_Race {n}_Anonymized.CSV"
        files[d + f"23_AnalysisEnduranceWithSections{sfx}"] = _sections_file(sim, False, False)
        files[d + f"26_Weather{sfx}"] = _weather_file(sim, False)
        files[d + f"99_Best 10 Laps By Driver{sfx}"] = _best10_file(sim, False)
        files[d + f"03_Provisional Results{sfx}"] = _results_overall(sim, None, False, "lf", True)
        files[d + f"05_Provisional Results by Class{sfx}"] = _results_class(sim, None, False, "lf")
        files[d + f"03_Results GR Cup Race {n} Official{'1' if n == 1 else ''}_Anonymized.CSV"] = \
            _results_overall(sim, None, False, "lf", True)
        files[d + f"05_Results by Class GR Cup Race {n} Official_Anonymized.CSV"] = \
            _results_class(sim, None, False, "crlf")
        for role in ("time", "start", "end"):
            files[d + f"road_america_lap_{role}_R{n}.csv"] = _events_file(sim, f"lap_{role}", 2)
        root = "road-america"
    elif tid == "sebring":
        d, sfx = f"Sebring/Race {n}/", f"_Race {n}_Anonymized.CSV"
        files[d + f"23_AnalysisEnduranceWithSections{sfx}"] = _sections_file(sim, False, False)
        files[d + f"26_Weather{sfx}"] = _weather_file(sim, False)
        files[d + f"99_Best 10 Laps By Driver{sfx}"] = _best10_file(sim, False)
        files[d + f"03_Provisional Results{sfx}"] = _results_overall(sim, None, False, "lf", False)
        files[d + f"05_Provisional Results by Class{sfx}"] = _results_class(sim, None, False, "lf")
        for role in ("time", "start", "end"):
            src = other if (role == "end" and "wrong_session" in q and other is not None) else sim
            files[d + f"sebring_lap_{role}_R{n}.csv"] = _events_file(src, f"lap_{role}", 2)
        root = "sebring.zip"
    elif tid == "sonoma":
        d, sfx = f"Race {n}/", f"_Race {n}_Anonymized.CSV"
        files[d + f"23_AnalysisEnduranceWithSections{sfx}"] = _sections_file(sim, False, True)
        if "no_weather" not in q:
            files[d + f"26_Weather{sfx}"] = _weather_file(sim, False)
        files[d + f"99_Best 10 Laps By Driver{sfx}"] = _best10_file(sim, False)
        if n == 1:
            files[d + "03_Results_Anonymized.CSV"] = _results_overall(sim, None, False, "lf", False)
            files[d + f"05_Results by Class{sfx}"] = _results_class(sim, None, False, "lf")
        else:
            files[d + f"03_Provisional_Results{sfx}"] = _results_overall(sim, None, False, "lf", False)
            files[d + "03_Results_Anonymized.CSV"] = _results_overall(sim, penalty, False, "lf", False)
            files[d + f"05_Provisional_Results by Class{sfx}"] = _results_class(sim, None, False, "lf")
            amended += 1
        for role, name in (("lap_time", "lap_time"), ("lap_start", "lap_start_time"), ("lap_end", "lap_end_time")):
            files[d + f"sonoma_{name}_R{n}.csv"] = _events_file(sim, role, 3)
        root = "Sonoma"
    elif tid == "vir":
        d, sfx = f"VIR/Race {n}/", f"_Race {n}_Anonymized.CSV"
        files[d + f"23_AnalysisEnduranceWithSections{sfx}"] = _sections_file(sim, False, False)
        files[d + f"26_Weather{sfx}"] = _weather_file(sim, False)
        files[d + f"99_Best 10 Laps By Driver{sfx}"] = _best10_file(sim, False)
        files[d + f"03_Provisional Results{sfx}"] = _results_overall(sim, None, False, "lf", False)
        files[d + f"05_Provisional Results by Class{sfx}"] = _results_class(sim, None, False, "lf")
        if "official03_same" in q:
            files[d + f"03_Results GR Cup Race {n} Official_Anonymized.CSV"] = \
                _results_overall(sim, None, False, "crlf", False)
        for role in ("time", "start", "end"):
            files[d + f"vir_lap_{role}_R{n}.csv"] = _events_file(sim, f"lap_{role}", 2)
        root = "virginia-international-raceway.zip"
    else:  # pragma: no cover - every track in params has a layout above
        raise KeyError(tid)
    return {f"{root}/{p}": b for p, b in files.items()}, amended


def _expected_ledger(sim: RaceSim, amended: int) -> list[list[Any]]:
    q = sim.q
    out: list[list[Any]] = []
    if sim.tid == "barber":
        out.append(["sentinel_value", None])          # TRACK_TEMP reads 0 on every row: no sensor
    if "sentinel_999" in q:
        out.append(["sentinel_value", None])          # TRACK_TEMP -999.0 on some rows
    if "no_weather" in q:
        out.append(["missing_file", None])
    if "elapsed_only" in q:
        out.append(["subsections_from_elapsed", None])
    if "wrong_session" in q:
        out.append(["lap_events_mismatch", None])
    out += [["results_amended", None]] * amended
    for n in sim.shared:
        out.append(["shared_car_number", n])
    for c in sim.cars:
        if c.missing_sectors:
            out.append(["missing_sectors", c.car])
        if c.missing_sub:
            out.append(["missing_subsections", c.car])
        if c.glitch:
            out.append(["timing_glitch", c.car])
        if c.deleted:
            out.append(["deleted_lap", c.car])           # faster than the LAP_IMPROVEMENT lap
        if c.deleted_hidden:
            out.append(["deleted_lap", c.car])           # inside the best-10 cut-off, absent from the list
    return sorted(out, key=lambda x: (x[0], x[1] or ""))


def _r(x: float, nd: int = 4) -> float:
    return float(round(float(x), nd))


def _truth(sim: RaceSim, files: list[str], amended: int) -> dict[str, Any]:
    cars = {}
    for c in sim.cars:
        b = sim.best(c)
        cars[c.car] = {
            "number": c.d.number, "class": c.d.cls, "driver": f"{c.d.first} {c.d.last}", "team": c.d.team,
            "vehicle_id": _vehicle_id(c), "grid": c.grid + 1,
            "pace_fraction": _r(c.d.pace, 5),
            "skill_s": {s: _r(v) for s, v in zip(SUBS, c.skill)},
            "weakest_subsection": SUBS[c.weakest], "weakest_loss_s": _r(c.weakest_loss),
            "trend_s_per_lap": _r(c.trend, 5),
            "noise_sd_s": {s: _r(v) for s, v in zip(SUBS, c.noise)},
            "consistency_problem": None if c.spread_sub is None else {
                "subsection": SUBS[c.spread_sub], "mistake_scale_s": _r(c.spread_scale),
                "mistake_s": [_r(x, 3) for x in c.mistake[:c.laps]]},
            "laps": c.laps, "status": "retired" if c.dnf_lap is not None else "finished",
            "best_lap_s": _r(b[1] / 1000, 3) if b else None, "best_lap_number": b[0] if b else None,
            "lap_times_s": [_r(sim.lap_ms(c, k) / 1000, 3) for k in range(1, c.laps + 1)],
            "ecu_offset_s": _r(c.ecu_offset_ms / 1000, 3), "ecu_lap_offset": c.ecu_lap_offset,
            "subsection_ms": [[int(x) for x in c.ms[k - 1]] for k in range(1, c.laps + 1)],
        }

    def per_car(attr):
        return {c.car: list(getattr(c, attr)) for c in sim.cars if getattr(c, attr)}

    last = max(int(c.elapsed[c.laps - 1]) for c in sim.cars)
    return {
        "race_id": f"{sim.tid}-r{sim.race_no}", "track_id": sim.tid, "race_number": sim.race_no,
        "date": sim.date.isoformat(), "meta_event": f"I_R{sim.round:02d}_{sim.sunday.isoformat()}",
        "timezone": sim.track["timezone"], "start_local": _hour(sim.start_local_ms),
        "start_utc": _iso(sim.start_utc_ms), "laps_scheduled": sim.n_laps,
        "reference_lap_s": sim.R,
        "base_subsection_s": {s: _r(v) for s, v in zip(SUBS, sim.base)},
        "subsection_split": [_r(x) for x in sim.split],
        "subsection_lines_m": None if sim.lines is None else [_r(x, 3) for x in sim.lines],
        "temp_coefficient_s_per_c": _r(sim.gamma, 5), "temp_ref_c": TEMP_REF_C,
        "track_temp_c": {"start": _r(sim.track_temp(0), 2), "end": _r(sim.track_temp(last / 1000), 2),
                         "drift_per_duration": _r(sim.tdrift, 3), "duration_s": _r(sim.duration_est, 1)},
        "weather_file": "no_weather" not in sim.q,
        "race_effect_s": _r(sim.race_effect_frac * sim.R, 4), "damp": sim.damp,
        "track_evolution_s_per_lap": _r(sim.evolution, 5),
        "cloud": None if sim.cloud is None else {"depth_c": _r(sim.cloud[0], 3), "centre": _r(sim.cloud[1], 4),
                                                  "width": _r(sim.cloud[2], 4)},
        "fcy_laps": list(sim.fcy), "fcy_factor": _r(sim.fcy_factor),
        "field_lap_shape_s": {str(k): _r(v) for k, v in enumerate(sim.lap_shape) if v},
        "field_segment": {"kind": "after restart" if sim.fcy else "local yellow", "laps": [sim.segment_start,
                                                                                        sim.segment_start + 1]},
        "pit_laps": {c.car: c.pit_in + ([c.laps] if c.dnf_lap else []) for c in sim.cars
                     if c.pit_in or c.dnf_lap},
        "deleted_laps": {c.car: sorted(c.deleted + c.deleted_hidden) for c in sim.cars
                         if c.deleted or c.deleted_hidden},
        "deleted_laps_hidden": per_car("deleted_hidden"),
        "glitch_laps": {c.car: [[k, SUBS[j]] for k, j in c.glitch] for c in sim.cars if c.glitch},
        "missing_sector_laps": per_car("missing_sectors"),
        "missing_subsection_laps": per_car("missing_sub"),
        "shared_numbers": sim.shared,
        "not_started": [sim.not_started.number] if "not_started" in sim.q else [],
        "quirks": sorted(sim.q),
        "cars": cars,
        "files": files,
        "expected_ledger": _expected_ledger(sim, amended),
    }


def _write(out_dir: Path, files: dict[str, bytes]) -> None:
    zips: dict[str, dict[str, bytes]] = {}
    for rel, data in files.items():
        root, _, rest = rel.partition("/")
        if root.endswith(".zip"):
            zips.setdefault(root, {})[rest] = data
            continue
        p = out_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    for name, members in zips.items():
        with zipfile.ZipFile(out_dir / name, "w", zipfile.ZIP_DEFLATED) as zf:
            for member in sorted(members):
                info = zipfile.ZipInfo(member, date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, members[member])


def simulate_season(seed: int = 2025) -> list[tuple[RaceSim, RaceSim]]:
    """The season's simulated races (both races of each track), before any file is written. Each car keeps
    its simulated noise (``Car.eta``), so a statistic's expectation under the generator can be computed by
    redrawing it (bench/coverage.py)."""
    tracks = params.tracks()
    roster = _roster(seed)
    out = []
    for tix, tid in enumerate(sorted(tracks)):
        if tid not in QUIRKS:
            continue
        sims = []
        for n in (1, 2):
            sim = RaceSim(seed, tix, tracks[tid], n, roster)
            if "not_started" in sim.q:
                entered = {c.d.number for c in sim.cars}
                sim.not_started = next(d for d in roster if d.number not in entered and d.number not in ("0", "03"))
            sim.simulate()
            sims.append(sim)
        out.append((sims[0], sims[1]))
    return out


def write_season(out_dir: Path, seed: int = 2025, telemetry: bool = True) -> dict:
    """Write the synthetic season under ``out_dir`` and return (and write) its ground truth (with the car
    telemetry of a few races unless ``telemetry`` is False: :mod:`kaizenlap.sample_telemetry`)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    races = []
    for sims in simulate_season(seed):
        for sim in sims:
            other = sims[1 - (sim.race_no - 1)]
            race_files, amended = _race_files(sim, other)
            files.update(race_files)
            races.append(_truth(sim, sorted(race_files), amended))
    _write(out_dir, files)
    if telemetry:  # after the timing files: beside them, its truth under each race's "telemetry" key
        write_telemetry(out_dir, races, seed, ZIP_DATE)
    truth = {"generator": "kaizenlap.sample", "version": GENERATOR_VERSION, "seed": seed,
             "temp_ref_c": TEMP_REF_C, "temp_coefficient_rule": "gamma = 0.0003 * reference_lap_s (s/degC/lap)",
             "races": races}
    (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=1, sort_keys=False) + "\n")
    return truth
