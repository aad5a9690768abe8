"""A hand-made race in the exact TRD formats, small enough to check every number by hand.

Three cars ("7" Pro, "03" Am, "0" Am), 8 laps each, at Barber on 2025-09-06 (CDT, UTC-5).
Every lap is six sub-sections; LAP_TIME is their sum. What each lap is meant to be is in LAPS below,
so tests can state the expected flags without running KaizenLap's logic.
"""
from __future__ import annotations

from pathlib import Path

HEADER_23 = ("NUMBER; DRIVER_NUMBER; LAP_NUMBER; LAP_TIME; LAP_IMPROVEMENT; CROSSING_FINISH_LINE_IN_PIT; S1; "
             "S1_IMPROVEMENT; S2; S2_IMPROVEMENT; S3; S3_IMPROVEMENT; KPH; ELAPSED; HOUR;S1_LARGE;S2_LARGE;"
             "S3_LARGE;TOP_SPEED;PIT_TIME;CLASS;GROUP;MANUFACTURER;FLAG_AT_FL;S1_SECONDS;S2_SECONDS;S3_SECONDS;"
             "IM1a_time;IM1a_elapsed;IM1_time;IM1_elapsed;IM2a_time;IM2a_elapsed;IM2_time;IM2_elapsed;IM3a_time;"
             "IM3a_elapsed;FL_time;FL_elapsed")

BASE = (12.0, 18.0, 15.0, 25.0, 14.0, 16.0)   # sub-sections of a 100.000 s lap
START_LOCAL_S = 13 * 3600 + 40 * 60           # 13:40:00 local = 18:40:00 UTC

# (car, class, lap, extra seconds on the lap (added to IM2), flag, LAP_IMPROVEMENT, pit-in, PIT_TIME, drop S1)
LAPS = [
    ("7", "Pro", 1, 10.0, "GF", 0, "", "", False),
    ("7", "Pro", 2, -0.5, "GF", 0, "", "", False),
    ("7", "Pro", 3, -0.7, "GF", 0, "", "", False),
    ("7", "Pro", 4, 20.0, "FCY", 0, "", "", False),
    ("7", "Pro", 5, 1.0, "GF", 0, "", "", False),      # restart after caution
    ("7", "Pro", 6, -0.9, "GF", 3, "", "", False),     # official best (and overall best)
    ("7", "Pro", 7, -1.1, "GF", 0, "", "", False),     # faster than the official best: deleted
    ("7", "Pro", 8, -0.6, "FF", 0, "", "", False),
    ("03", "Am", 1, 11.0, "GF", 0, "", "", False),
    ("03", "Am", 2, 0.2, "GF", 0, "", "", False),
    ("03", "Am", 3, 0.1, "GF", 0, "", "", False),
    ("03", "Am", 4, 21.0, "FCY", 0, "", "", False),
    ("03", "Am", 5, 2.0, "GF", 0, "", "", False),      # restart after caution
    ("03", "Am", 6, 0.4, "GF", 0, "B", "", False),     # pit in
    ("03", "Am", 7, 30.0, "GF", 0, "", "0:00:35.000", False),  # pit out (and slow)
    ("03", "Am", 8, 0.0, "FF", 2, "", "", False),      # best
    ("0", "Am", 1, 12.0, "GF", 0, "", "", False),
    ("0", "Am", 2, 0.8, "GF", 0, "", "", False),
    ("0", "Am", 3, 0.6, "GF", 0, "", "", False),
    ("0", "Am", 4, 22.0, "FCY", 0, "", "", False),
    ("0", "Am", 5, 3.0, "GF", 0, "", "", False),       # restart after caution
    ("0", "Am", 6, 0.5, "GF", 2, "", "", False),       # best
    ("0", "Am", 7, 0.9, "GF", 0, "", "", True),        # S1 missing
    ("0", "Am", 8, 0.7, "FF", 0, "", "", False),
]

# Flags each lap must carry (reason codes), by (car, lap); laps not listed are clean.
EXPECTED_FLAGS = {
    # Lap 1 is also > 107% of its class's median green lap (Pro 99.3 s, Am 100.55 s).
    ("7", 1): {"first_lap", "slow"}, ("03", 1): {"first_lap", "slow"}, ("0", 1): {"first_lap", "slow"},
    ("7", 4): {"caution", "slow"}, ("03", 4): {"caution", "slow"}, ("0", 4): {"caution", "slow"},
    ("7", 5): {"after_caution"}, ("03", 5): {"after_caution"}, ("0", 5): {"after_caution"},
    ("7", 7): {"deleted"},
    ("03", 6): {"pit_in"}, ("03", 7): {"pit_out", "slow"},
    ("0", 7): {"missing_sectors"},
}
EXPECTED_BEST = {"7": (99.1, 6), "03": (100.0, 8), "0": (100.5, 6)}


def fmt(seconds: float) -> str:
    """TRD style: SS.fff under a minute, M:SS.fff at or over."""
    if seconds < 60:
        return f"{seconds:.3f}"
    m, s = divmod(round(seconds, 3), 60)
    return f"{int(m)}:{s:06.3f}"


def fmt_hour(seconds: float) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def lap_rows() -> list[dict]:
    rows, clock = [], {}
    for car, cls, lap, extra, flag, imp, pit, pit_time, drop_s1 in LAPS:
        subs = list(BASE)
        subs[3] = round(subs[3] + extra, 3)
        lap_time = round(sum(subs), 3)
        elapsed = clock.get(car, 0.0) + lap_time
        clock[car] = elapsed
        rows.append(dict(car=car, cls=cls, lap=lap, subs=subs, lap_time=lap_time, flag=flag, imp=imp, pit=pit,
                         pit_time=pit_time, drop_s1=drop_s1, elapsed=elapsed,
                         hour=START_LOCAL_S + elapsed + {"7": 0.0, "03": 0.8, "0": 1.6}[car]))
    return rows


def sections_text() -> str:
    lines = [HEADER_23]
    for r in lap_rows():
        s = r["subs"]
        s1, s2, s3 = round(s[0] + s[1], 3), round(s[2] + s[3], 3), round(s[4] + s[5], 3)
        cum = [round(sum(s[: i + 1]), 3) for i in range(6)]
        s1_text = "" if r["drop_s1"] else fmt(s1)
        s1_sec = "" if r["drop_s1"] else f"{s1:.3f}"
        sub_fields = []
        for i in range(6):
            if r["drop_s1"] and i < 2:
                sub_fields += ["", ""]
            else:
                sub_fields += [f"{s[i]:.3f}", fmt(cum[i])]
        fields = [r["car"], "1", str(r["lap"]), fmt(r["lap_time"]), str(r["imp"]), r["pit"], s1_text, "0",
                  fmt(s2), "0", fmt(s3), "0", "130.0", fmt(r["elapsed"]), fmt_hour(r["hour"]),
                  "" if r["drop_s1"] else f"0:{s1:06.3f}", f"0:{s2:06.3f}", f"0:{s3:06.3f}", "200.1",
                  r["pit_time"], r["cls"], "", "Toyota", r["flag"], s1_sec, f"{s2:.3f}", f"{s3:.3f}",
                  *sub_fields]
        lines.append(";".join(fields))
    return "\n".join(lines) + "\n"


NOT_LISTED = {("7", 7), ("03", 6), ("03", 7)}   # deleted lap; pit-in and pit-out laps


def eligible(car: str) -> list[tuple[float, int]]:
    """Official rules, by hand: lap 1, the deleted lap and the pit laps are never listed."""
    return sorted((r["lap_time"], r["lap"]) for r in lap_rows()
                  if r["car"] == car and r["lap"] > 1 and (car, r["lap"]) not in NOT_LISTED)


def best10_text() -> str:
    head = ["NUMBER", "VEHICLE", "CLASS", "TOTAL_DRIVER_LAPS"]
    for k in range(1, 11):
        head += [f"BESTLAP_{k}", f"BESTLAP_{k}_LAPNUM"]
    head.append("AVERAGE")
    lines = [";".join(head)]
    for car, cls in (("7", "Pro"), ("03", "Am"), ("0", "Am")):
        el = eligible(car)[:10]
        fields = [car, "Toyota GR86", cls, "8"]
        for k in range(10):
            fields += [fmt(el[k][0]), str(el[k][1])] if k < len(el) else ["", "0"]
        fields.append(fmt(sum(t for t, _ in el) / len(el)))
        lines.append(";".join(fields))
    return "\n".join(lines) + "\n"


def results_text() -> str:
    lines = ["POSITION;NUMBER;STATUS;LAPS;TOTAL_TIME;GAP_FIRST;GAP_PREVIOUS;FL_LAPNUM;FL_TIME;FL_KPH;CLASS"]
    totals = {}
    for r in lap_rows():
        totals[r["car"]] = r["elapsed"]
    for pos, (car, cls) in enumerate((("7", "Pro"), ("03", "Am"), ("0", "Am")), start=1):
        best_t, best_n = eligible(car)[0]
        lines.append(f"{pos};{car};Classified;8;{fmt(totals[car])};{'-' if pos == 1 else '+1.000'};-;{best_n};"
                     f"{fmt(best_t)};130.0;{cls}")
    return "\n".join(lines) + "\n"


def weather_text(start_epoch: int = 1757184000, rows: int = 16) -> str:
    lines = ["TIME_UTC_SECONDS;TIME_UTC_STR;AIR_TEMP;TRACK_TEMP;HUMIDITY;PRESSURE;WIND_SPEED;WIND_DIRECTION;RAIN"]
    for i in range(rows):
        lines.append(f"{start_epoch + 63 * i};9/6/2025 6:40:00 PM;{29.0 + 0.1 * i:.2f};{41.0 + 0.2 * i:.1f};55.0;"
                     f"993.0;5.0;180;0")
    return "\n".join(lines) + "\n"


def write_race(folder: Path, race: int = 1) -> dict[str, Path]:
    """Write one race's files flat into ``folder`` (Barber-style names); returns role -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "sections": (f"23_AnalysisEnduranceWithSections_Race {race}_Anonymized.CSV", sections_text()),
        "weather": (f"26_Weather_Race {race}_Anonymized.CSV", weather_text(1757184000 + 86400 * (race - 1))),
        "best10": (f"99_Best 10 Laps By Driver_Race {race}_Anonymized.CSV", best10_text()),
        "results_overall": (f"03_Provisional Results_Race {race}_Anonymized.CSV", results_text()),
    }
    out = {}
    for role, (name, text) in files.items():
        path = folder / name
        path.write_text(text)
        out[role] = path
    return out
