"""Plain-text rendering of an ingested race for ``inspect``."""
from __future__ import annotations

from kaizenlap.core.laptime import format_lap
from kaizenlap.ingest.loader import Race


def format_race(race: Race) -> str:
    doc = race.summary()
    lines = [f"== {doc['race_id']}  ({doc['track_id']} race {doc['race_number']}, {doc['date'] or 'date unknown'}"
             f"{', dated from ' + doc['date_source'] if doc['date_source'] else ''})  status: {doc['status']}",
             f"   cars {len(doc['cars'])}  laps {doc['laps']}  clean laps {doc['clean_laps']}  "
             f"weather rows {doc['weather_rows']}"]
    for role, files in doc["files"].items():
        for f in files:
            lines.append(f"   file  {role:16s} {f}")
    for role, choice in doc["results_used"].items():
        lines.append(f"   results {role}: {choice['status']} ({choice['reason']})")
    if doc["cars"]:
        lines.append("   car      class  laps  clean  best lap   on lap")
        for c in doc["cars"]:
            lines.append(f"   {c['car']:8s} {str(c['class'] or '-'):5s} {c['laps']:5d} {c['clean_laps']:6d}  "
                         f"{format_lap(c['best_lap_s']):9s}  {c['best_lap_number'] if c['best_lap_number'] else '-'}")
    if doc["exclusions"]:
        lines.append("   exclusions (laps caught / caught only by this flag): " + ", ".join(
            f"{e['flag']} {e['laps']}/{e['only_this_flag']}" for e in doc["exclusions"] if e["laps"]))
    lines.append(f"   ledger: {len(doc['issues'])} entries")
    for i in race.issues:
        lines.append(f"     {i}")
    return "\n".join(lines)
