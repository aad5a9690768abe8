"""Ingest: TRD folders or zips in, one :class:`Race` per race out (lap table, weather, official
documents, car-side events, reconciliation and the quality ledger).

>>> races, issues = load([Path("../shared/trd")])          # doctest: +SKIP
"""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kaizenlap.core import __version__, params
from kaizenlap.core.paths import cache_dir
from kaizenlap.ingest.flags import add_flags, exclusion_summary
from kaizenlap.ingest.lap_events import EVENT_COLUMNS, check_and_align, event_date, read_lap_events
from kaizenlap.ingest.laps import LAP_COLUMNS, SUBSECTIONS, add_crossing_utc, build_laps, read_sections
from kaizenlap.core.ledger import Issue, UnreadableFile
from kaizenlap.ingest.official import STATUS_PREFERENCE, read_best10, read_results, results_status
from kaizenlap.ingest.reconcile import best10_deletions, reconcile
from kaizenlap.ingest import files as input_files
from kaizenlap.ingest.files import RaceFiles, SourceFile, content_hash, is_gcs
from kaizenlap.ingest.sources import STREAMED_ROLES, discover
from kaizenlap.ingest.weather_readings import WEATHER_COLUMNS, read_weather

# Bump when parsing or flag logic changes: it invalidates the cache.
PARSER_VERSION = "2"

log = logging.getLogger("kaizenlap.ingest")


@dataclass
class Race:
    race_id: str
    track_id: str
    race_number: int
    status: str = "loaded"                  # loaded | failed
    date: str | None = None                 # local date of the race (YYYY-MM-DD)
    date_source: str | None = None          # weather | lap_events | meta_event
    laps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(LAP_COLUMNS)))
    weather: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(WEATHER_COLUMNS)))
    results: pd.DataFrame | None = None      # overall
    results_by_class: pd.DataFrame | None = None
    best10: pd.DataFrame | None = None
    lap_events: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(EVENT_COLUMNS)))
    reconciliation: pd.DataFrame | None = None
    issues: list[Issue] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)
    results_choice: dict[str, dict[str, str]] = field(default_factory=dict)
    lap_event_offset_s: float | None = None   # ECU clock/trigger offset vs the timing line (median)
    # The race's car telemetry file, when it has one (streamed by the telemetry task, never read here):
    # {"file": name as in ``files``, "location": where to stream it from, "fingerprint": size/time or the zip
    # member's CRC, "bytes": uncompressed size}.
    telemetry: dict[str, Any] | None = None

    @property
    def clean_laps(self) -> int:
        return int(self.laps["is_clean"].sum()) if "is_clean" in self.laps else 0

    def exclusion_summary(self) -> pd.DataFrame:
        return exclusion_summary(self.laps)

    def summary(self) -> dict[str, Any]:
        """The ``inspect --json`` document for this race."""
        cars = []
        if self.reconciliation is not None:
            for r in self.reconciliation.to_dict("records"):
                cars.append({"car": r["car"], "number": r["number"], "class": _none(r["class"]),
                             "laps": int(r["laps"]), "clean_laps": int(r["clean_laps"]),
                             "best_lap_s": _none(r["best_lap_s"]), "best_lap_number": _none(r["best_lap_number"])})
        return {
            "race_id": self.race_id, "track_id": self.track_id, "race_number": self.race_number,
            "status": self.status, "date": self.date, "date_source": self.date_source,
            "laps": int(len(self.laps)), "clean_laps": self.clean_laps,
            "weather_rows": int(len(self.weather)),
            "lap_events": int(len(self.lap_events)),
            "lap_events_aligned": int(self.lap_events["lap"].notna().sum()) if len(self.lap_events) else 0,
            "lap_event_offset_s": _none(self.lap_event_offset_s),
            "cars": cars,
            "files": self.files,
            "results_used": self.results_choice,
            "exclusions": self.exclusion_summary().to_dict(orient="records") if len(self.laps) else [],
            "issues": [i.to_dict() for i in self.issues],
        }


def _none(v):
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


def _pick(race: RaceFiles, role: str, issues: list[Issue]) -> list[tuple[SourceFile, bytes]]:
    """The files of one role, duplicates removed: identical copies -> one; different -> conflict."""
    srcs = race.files.get(role, [])
    groups: dict[str, list[tuple[SourceFile, bytes]]] = {}
    for src in srcs:
        key = results_status(src) if role.startswith("results") else role
        try:
            data = race.read(src)
        except UnreadableFile as exc:     # unreadable, damaged zip entry, over the limits: not used
            issues.append(exc.issue)
            continue
        groups.setdefault(key, []).append((src, data))
    chosen = []
    for key, items in groups.items():
        first_src, first_data = items[0]
        h = content_hash(first_data)
        conflict = False
        for src, data in items[1:]:
            if content_hash(data) == h:
                issues.append(Issue("duplicate_file", f"identical to {first_src.display}; one copy used",
                                    file=src.display))
            else:
                conflict = True
                issues.append(Issue("conflicting_files",
                                    f"differs from {first_src.display}, which claims the same race and role "
                                    f"({role}); neither used", file=src.display))
        if not conflict:
            chosen.append((first_src, first_data))
    return chosen


def _telemetry_file(race: RaceFiles, issues: list[Issue]) -> dict[str, Any] | None:
    """The race's telemetry file (role ``telemetry``), listed and fingerprinted without reading it; of several,
    the largest (a ``_sample`` cut beside the full file), the others named in the ledger."""
    found = []
    for src in race.files.get("telemetry", []):
        fp, size = src.streamed_fingerprint()
        found.append({"file": src.display, "location": src.location.split(" (copy ")[0], "fingerprint": fp,
                      "bytes": size, "remote": not isinstance(src.path, Path)})
    if not found:
        return None
    cap = int(params.load("ingest")["telemetry"]["max_file_bytes"])
    for x in [x for x in found if (x["bytes"] or 0) > cap]:
        issues.append(Issue("over_limit", f"telemetry of {x['bytes']} bytes, over the limit of {cap} "
                            "(params/ingest.yaml: telemetry.max_file_bytes); not read", file=x["file"]))
        found.remove(x)
    if not found:
        return None
    found.sort(key=lambda x: (-(x["bytes"] or -1), x["file"]))
    for other in found[1:]:
        issues.append(Issue("duplicate_file", f"another telemetry file for this race; {found[0]['file']} "
                            "(the largest) used", file=other["file"]))
    return found[0]


def load_race(race: RaceFiles) -> Race:
    """Read every file of one race. Never raises for bad input: problems become ledger entries."""
    track = params.tracks().get(race.track_id, {})
    out = Race(race.race_id, race.track_id, race.race_number)
    issues = out.issues
    out.files = {role: [s.display for s in srcs] for role, srcs in sorted(race.files.items())}
    out.telemetry = _telemetry_file(race, issues)

    sections = _pick(race, "sections", issues)
    if not sections:
        if "sections" not in race.files:
            issues.append(Issue("missing_file", "no 23_AnalysisEnduranceWithSections file: the race has no laps"))
        out.status = "failed"
        return out
    src, data = sections[0]
    try:
        table = read_sections(src, data)
    except UnreadableFile as exc:
        issues.append(exc.issue)
        out.status = "failed"
        return out
    max_laps = input_files.limits()["max_laps_per_race"]
    if len(table.frame) > max_laps:
        issues.append(Issue("over_limit", f"{len(table.frame)} data rows, over the limit of {max_laps} laps per race "
                            "(params/ingest.yaml: limits.max_laps_per_race, what an engine kernel analyses within "
                            "its memory limit); the race is not read", file=src.display))
        out.status = "failed"
        return out
    laps, lap_issues = build_laps(table, race.track_id, race.race_id)
    issues += table.issues + lap_issues
    if laps.empty:
        issues.append(Issue("no_data_rows", "the lap file has no usable data rows (every row was dropped)",
                            file=src.display))
        out.status = "failed"
        return out

    # Weather
    weather_files = _pick(race, "weather", issues)
    if weather_files:
        wsrc, wdata = weather_files[0]
        try:
            out.weather, w_issues = read_weather(wsrc, wdata)
            issues += w_issues
        except UnreadableFile as exc:
            issues.append(exc.issue)
    elif "weather" not in race.files:
        issues.append(Issue("missing_file", "no 26_Weather file: weather analysis is not possible for this race"))

    # Car-side lap events (read before dating the race: they can date it)
    events = []
    for role in ("lap_time", "lap_start", "lap_end"):
        for esrc, edata in _pick(race, role, issues):
            try:
                ev, ev_issues = read_lap_events(esrc, role, edata)
                events.append(ev)
                issues += ev_issues
            except UnreadableFile as exc:
                issues.append(exc.issue)
    if not race.files.keys() & {"lap_time", "lap_start", "lap_end"}:
        issues.append(Issue("missing_file", "no car-side lap event files"))
    events_df = pd.concat(events, ignore_index=True) if events else out.lap_events

    # Race date: weather first (UTC, exact), then the lap events, then the event name.
    tz = track.get("timezone")
    reference = None
    if tz and not out.weather.empty:
        reference = out.weather["time_utc"].median()
        out.date = str(reference.tz_convert(tz).date())
        out.date_source = "weather"
    elif tz and not events_df.empty:
        session = events_df[events_df["meta_session"].str.upper() == f"R{race.race_number}"]
        dated = session if not session.empty else events_df
        out.date = event_date(dated, tz)
        reference = dated["timestamp_utc"].median()
        out.date_source = "lap_events"
    elif not events_df.empty and events_df["meta_event"].notna().any():
        out.date = events_df["meta_event"].dropna().iloc[0][-10:]
        out.date_source = "meta_event"
        issues.append(Issue("date_assumed", f"race dated {out.date} from meta_event (the weekend's last day)"))
    laps, out.date, crosses = add_crossing_utc(laps, out.date, tz, reference)
    if crosses:
        issues.append(Issue("midnight_crossing", f"the laps run past local midnight ({tz}): HOUR times after it "
                            f"are dated the day after {out.date}'s earlier laps (the race's centre is on {out.date})",
                            file=src.display, column="HOUR"))
    if not out.weather.empty and laps["crossing_utc"].notna().any():
        out.weather, w_issues = _weather_in_window(out.weather, laps["crossing_utc"], weather_files[0][0].display)
        issues += w_issues

    # Official documents
    results_overall = _choose_results(race, "results_overall", out, issues)
    results_class = _choose_results(race, "results_class", out, issues)
    out.results, out.results_by_class = results_overall[0], results_class[0]
    best_files = _pick(race, "best10", issues)
    best_file = None
    if best_files:
        bsrc, bdata = best_files[0]
        try:
            out.best10, b_issues = read_best10(bsrc, bdata)
            issues += b_issues
            best_file = bsrc.display
        except UnreadableFile as exc:
            issues.append(exc.issue)
    elif "best10" not in race.files:
        issues.append(Issue("missing_file", "no 99_Best 10 Laps file: best laps cannot be checked"))

    # Laps the best-10 file shows were deleted are flagged before anything uses the laps.
    deleted = best10_deletions(laps, out.best10)
    keys = list(zip(laps["car"], laps["lap"]))
    laps = add_flags(laps, track, deleted_by_officials=np.array([k in deleted for k in keys], dtype=bool))
    out.laps = laps
    if not events_df.empty:
        out.lap_events, out.lap_event_offset_s, ev_issues = check_and_align(events_df, laps, race.race_number)
        issues += ev_issues
    rec = reconcile(laps, out.best10, out.results if out.results is not None else out.results_by_class,
                    best_file, results_overall[1] or results_class[1])
    out.reconciliation = rec.table
    issues += rec.issues
    issues += _lap_quality_issues(laps, src.display)
    return out


def _weather_in_window(weather: pd.DataFrame, crossing: pd.Series, file: str) -> tuple[pd.DataFrame, list[Issue]]:
    """Weather readings within ``limits.weather_window_margin_s`` of the race's first and last crossing; the others
    (a clock gone wrong, another day's readings) are dropped with an ``outside_race_window`` entry."""
    margin = pd.Timedelta(seconds=params.load("ingest")["limits"]["weather_window_margin_s"])
    lo, hi = crossing.min() - margin, crossing.max() + margin
    outside = ~weather["time_utc"].between(lo, hi)
    if not outside.any():
        return weather, []
    lines = [int(x) for x in weather.loc[outside, "source_line"]]
    issue = Issue("outside_race_window", f"{len(lines)} reading(s) more than {margin.total_seconds():g} s outside "
                  f"the race's laps ({crossing.min():%Y-%m-%d %H:%M}-{crossing.max():%H:%M} UTC); dropped (lines "
                  f"{', '.join(map(str, sorted(lines)[:10]))}{', ...' if len(lines) > 10 else ''})",
                  file=file, line=min(lines), column="TIME_UTC_SECONDS")
    return weather[~outside].reset_index(drop=True), [issue]


def load_race_safely(race: RaceFiles) -> Race:
    """:func:`load_race`, and should it raise anyway (a fault no reader anticipated), the race ``failed``
    with an ``ingest_error`` entry naming its lap file; the traceback goes to the log, never the terminal."""
    try:
        return load_race(race)
    except Exception as exc:  # noqa: BLE001 - one race's fault must not stop the others
        log.exception("unexpected fault while reading race %s", race.race_id)
        out = Race(race.race_id, race.track_id, race.race_number, status="failed")
        out.files = {role: [s.display for s in srcs] for role, srcs in sorted(race.files.items())}
        lap_file = next(iter(race.files.get("sections", [])), None)
        out.issues.append(Issue("ingest_error", f"{type(exc).__name__}: {str(exc)[:300]}; the race was not "
                                "read (the traceback is in the log file)",
                                file=lap_file.display if lap_file else None))
        return out


def _choose_results(race: RaceFiles, role: str, out: Race, issues: list[Issue]):
    """Official > unlabelled > provisional: the official file carries post-race penalties."""
    files = _pick(race, role, issues)
    if not files:
        if role not in race.files:
            issues.append(Issue("missing_file", f"no {'overall' if role == 'results_overall' else 'by-class'} "
                                "results file"))
        return None, None
    read = {}
    for src, data in files:
        try:
            read[results_status(src)] = (src, read_results(src, role == "results_class", data))
        except UnreadableFile as exc:
            issues.append(exc.issue)
    for status in STATUS_PREFERENCE:
        if status in read:
            src, (frame, r_issues) = read[status]
            issues += r_issues
            others = [s for s in read if s != status]
            reason = {"official": "the official file includes post-race decisions",
                      "unlabelled": "no file is labelled official; the unlabelled file is the final issue",
                      "provisional": "only provisional results exist"}[status]
            out.results_choice[role] = {"file": src.display, "status": status, "reason": reason}
            if "provisional" in others and status != "provisional":
                prov = read["provisional"][1][0]
                cols = ["number", "laps", "total_time_s", "position", "class_position", "status"]
                a = frame[cols].reset_index(drop=True)
                b = prov[cols].reset_index(drop=True)
                if len(a) != len(b) or not a.equals(b):
                    issues.append(Issue("results_amended", f"{status} results differ from the provisional ones "
                                        f"({read['provisional'][0].display})", file=src.display))
            return frame, src.display
    return None, None


def _lap_quality_issues(laps: pd.DataFrame, file: str) -> list[Issue]:
    """Ledger entries summarising lap-level problems, one per car and problem."""
    issues = []
    sub_cols = [f"{k}_s" for k, _ in SUBSECTIONS]
    checks = [
        ("missing_sectors", laps["flag_missing_sectors"], "laps with a missing S1..S3 time"),
        ("missing_subsections", laps[sub_cols].isna().any(axis=1) & ~laps["flag_missing_sectors"],
         "laps with a missing sub-section time (sectors complete)"),
        ("sector_sum_mismatch", laps["flag_sector_sum"], "laps whose S1+S2+S3 differs from LAP_TIME"),
        ("timing_glitch", laps["flag_glitch"], "laps with a section below the physical floor"),
        ("deleted_lap", laps["deleted_by"] == "lap_improvement",
         "laps faster than the car's official best (LAP_IMPROVEMENT): deleted by the officials"),
        ("deleted_lap", laps["deleted_by"] == "best10",
         "laps inside the car's official best-10 cut-off but absent from it: deleted by the officials"),
    ]
    for code, mask, what in checks:
        for car, g in laps[mask.fillna(False).astype(bool)].groupby("car", sort=False):
            lap_list = [int(x) for x in g["lap"]]
            issues.append(Issue(code, f"car {car}: {len(lap_list)} {what}", file=file,
                                line=int(g["source_line"].iloc[0]), car=str(car), laps=lap_list))
    return issues


# --------------------------------------------------------------------------- cache

@functools.lru_cache(maxsize=1)
def _code_hash() -> str:
    """The code that shapes a parsed race (the ingest and core layers, the only ones ingest imports): a change
    to any of it invalidates the cache."""
    h = hashlib.sha256()
    for layer in (Path(__file__).parent, Path(__file__).parents[1] / "core"):
        for path in sorted(layer.glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _race_key(race: RaceFiles) -> str:
    h = hashlib.sha256()
    h.update(f"{PARSER_VERSION}|{__version__}|{_code_hash()}|{race.race_id}".encode())
    for p in sorted(params.params_dir().rglob("*.yaml")):
        h.update(p.read_bytes())
    for role in sorted(race.files):
        for src in race.files[role]:
            # a streamed file (telemetry) is not parsed here: its name and size (the same on disk and in a bucket)
            # key the entry; its cheap fingerprint is refreshed on every load (:func:`load`)
            fp = f"size:{src.streamed_fingerprint()[1]}" if role in STREAMED_ROLES else race.fingerprint(src)
            h.update(role.encode() + src.display.encode() + fp.encode())
    return h.hexdigest()[:24]


_CACHE_FILE = "race.pickle"


def _save(race: Race, path: Path) -> None:
    """One pickle per race (the frames and the ledger): the cache is private to this code version (its
    key hashes the source), so pickle's speed wins over a portable format here."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    with open(tmp / _CACHE_FILE, "wb") as fh:
        pickle.dump(race, fh, protocol=pickle.HIGHEST_PROTOCOL)
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)  # a folder swapped whole (core.atomic writes files): a reader never sees half an entry


def _restore(path: Path) -> Race:
    with open(path / _CACHE_FILE, "rb") as fh:
        race = pickle.load(fh)
    if not isinstance(race, Race):
        raise TypeError(f"{path} does not hold a race")
    return race


def load(inputs: list[Path | str], use_cache: bool = True, race_ids: list[str] | None = None,
         ) -> tuple[list[Race], list[Issue]]:
    """Every race found under ``inputs`` (folders, zips, ``gs://BUCKET/PREFIX``), with input-level issues.

    ``race_ids`` limits loading to those races (the others are discovered but not read).
    """
    found, issues = discover([p if is_gcs(p) else Path(p) for p in inputs])
    if race_ids is not None:
        found = [rf for rf in found if rf.race_id in race_ids]
    races: list[Race | None] = [None] * len(found)
    todo = []
    for i, rf in enumerate(found):
        path = cache_dir() / f"{rf.race_id}-{_race_key(rf)}" if use_cache else None
        if path is not None and (path / _CACHE_FILE).exists():
            try:
                races[i] = _restore(path)
                continue
            except Exception:  # a damaged cache entry is parsed again, never trusted
                pass
        todo.append((i, rf, path))
    for i, race in _parse_all(todo):
        races[i] = race
    for rf, race in zip(found, races):      # the telemetry file as it is now (size and time, CRC: cheap)
        if race is not None and race.telemetry is not None:
            race.telemetry = _telemetry_file(rf, [])
    return [r for r in races if r is not None], issues


def _parse_and_cache(rf: RaceFiles, path: Path | None) -> Race:
    race = load_race_safely(rf)
    rf.release()                  # the parsed race holds what is needed; free the raw bytes
    if path is not None:
        try:
            _save(race, path)
        except OSError:
            pass
    return race


def _parse_all(todo: list[tuple[int, RaceFiles, Path | None]]):
    # Serial on purpose: forking after pyarrow has started its threads (a cache read) can abort the
    # child, and on 2 cores a process pool measured no faster (bench/ingest.py).
    for i, rf, path in todo:
        yield i, _parse_and_cache(rf, path)


def load_race_by_id(inputs: list[Path | str], race_id: str) -> Race:
    """One race, from the cache when it is there (what a notebook calls)."""
    races, _ = load(inputs, race_ids=[race_id])
    if not races:
        raise KeyError(f"race {race_id!r} not found under {', '.join(map(str, inputs))}")
    return races[0]
