"""Engine results: the JSON document each notebook records, its documents in the results store, the
headline figures the run index shows, and the run's manifest.

A recorded document is the engine's document unchanged plus one key, ``"meta"`` (what produced it: run,
engine, race/track, library version, data, time), so ``{k: v for k, v in doc.items() if k != "meta"}``
equals what calling the engine gives.

:func:`store_document` writes one engine document's store documents (:mod:`kaizenlap.store.build`) under
the run id as the task's own part of the run (:func:`kaizenlap.store.stage`); the pipeline begins the run
before the notebooks execute and publishes it once every task has finished.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import statistics
import sys
from pathlib import Path
from typing import Any

from . import __version__

META_KEY = "meta"
MANIFEST = "results.json"


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def document_name(engine: str, scope: str = "race") -> str:
    """File stem of an engine's document: ``composite``, ... and ``weather_track`` for the track model."""
    return f"{engine}_track" if scope == "track" and not engine.endswith("_track") else engine


def run_meta(engine: str, *, race_id: str | None = None, track_id: str | None = None, scope: str = "race",
             run_id: str | None = None, data: Any = None, store_url: str | None = None,
             **extra: Any) -> dict:
    """What produced a document (stored under ``"meta"``)."""
    meta = {"engine": engine, "scope": scope, "race_id": race_id, "track_id": track_id, "run_id": run_id,
            "kaizenlap_version": __version__, "python": sys.version.split()[0],
            "data": [str(p) for p in data] if isinstance(data, (list, tuple)) else (str(data) if data else None),
            "store_url": store_url, "generated_utc": now_utc()}
    meta.update(extra)
    return meta


def save_document(doc: dict, output_dir: str | os.PathLike | None, engine: str, meta: dict | None = None,
                  store_url: str | None = None) -> Path | None:
    """Write ``<output_dir>/<engine>.json`` (the document plus ``meta``); nothing when ``output_dir`` is None.

    ``store_url`` is recorded in ``meta``; :func:`store_document` writes the store's documents.
    The file is written atomically (a reader never sees half a document). Returns the path written.
    """
    if output_dir is None:
        return None
    if META_KEY in doc:
        raise ValueError(f"an engine document must not have a {META_KEY!r} key of its own")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or run_meta(engine))
    if store_url is not None:
        meta["store_url"] = store_url
    path = out / f"{engine}.json"
    tmp = path.with_suffix(".json.tmp")
    # allow_nan=False: the engines turn NaN into null; a NaN here is a bug, not a number to write.
    tmp.write_text(json.dumps({**doc, META_KEY: meta}, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def part_name(target: str, task: str) -> str:
    """The store part a task writes: ``barber-r1.composite``, ``barber.weather_track``."""
    return f"{target}.{task}"


def store_document(doc: dict, store_url: str | None, run_id: str | None, part: str,
                   meta: dict | None = None) -> dict | None:
    """Write the store documents of engine document ``doc`` under run ``run_id`` of the store at
    ``store_url``, as part ``part`` (replacing what that part wrote before). The run must have been begun
    (``run_pipeline.py run --store URL`` does that); it becomes visible when the pipeline publishes it.
    Returns the part record (counts per collection), or None when ``store_url`` is None.
    """
    if not store_url:
        return None
    if not run_id:
        raise ValueError("store_url is set but run_id is not: documents are written under a run that "
                         "`run_pipeline.py run --store URL` begins and publishes")
    from .store import build, open_store, stage
    docs = build.engine_documents(doc["engine"], doc)
    keep = {k: (meta or {}).get(k) for k in ("engine", "scope", "race_id", "track_id", "generated_utc")}
    with open_store(store_url) as store:
        return stage(store, run_id, part, docs, meta={k: v for k, v in keep.items() if v is not None})


def stored_text(record: dict | None, store_url: str | None) -> str:
    """One line for a report: what :func:`store_document` wrote, or that nothing was."""
    if record is None:
        return "(no `store_url`: nothing written to a results store)"
    counts = ", ".join(f"{n:,} {c}" for c, n in sorted(record["counts"].items())) or "no documents"
    return (f"Stored in `{store_url}` under run `{record['run_id']}` as part `{record['part']}`: {counts} "
            f"(visible once the run is published).")


def load_document(path: str | os.PathLike) -> tuple[dict, dict]:
    """``(engine document, meta)`` from a file written by :func:`save_document`."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    meta = doc.pop(META_KEY, {})
    return doc, meta


# ---------------------------------------------------------------------------------------- headlines

def _fmt_s(v: float | None, signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return f"{v:+.3f}" if signed else f"{v:.3f}"


def _lap(v: float | None) -> str:
    if v is None:
        return "-"
    m, s = divmod(float(v), 60)
    return f"{int(m)}:{s:06.3f}"


def _interval(est: dict, unit: str) -> str:
    lo, hi = est.get("lo"), est.get("hi")
    ci = f" [{_fmt_s(lo, True)}, {_fmt_s(hi, True)}]" if lo is not None and hi is not None else ""
    return f"{_fmt_s(est.get('value'), True)} {unit}{ci} (n={est.get('n')})"


def headline_composite(doc: dict) -> dict:
    by = {(f["class"], f["section_set"]): f for f in doc.get("field", [])}
    f = by.get(("all", "sectors"), {})
    fs = by.get(("all", "subsections"), {})
    if not f.get("available"):
        return {"text": f"no composite: {f.get('reason', 'no clean laps')}"}
    text = f"composite {_lap(f['total_s'])}"
    if fs.get("available"):
        text += f" (sub-sections {_lap(fs['total_s'])})"
    return {"text": text + f"; n={f['n_laps']} clean laps", "composite_s": f["total_s"],
            "composite_subsections_s": fs.get("total_s")}


def headline_sections(doc: dict) -> dict:
    """The field's most common specific weakness: each car's rank-1 section (by the lower bound of its
    section loss), counted only where that section loss is significant; the runner-up beside it."""
    firsts: dict[str, int] = {}
    cars = 0
    for car in doc.get("cars", []):
        s = car.get(car.get("preferred_set", "sectors"), {})
        if s.get("available") and s.get("sections"):
            cars += 1
            top = s["sections"][0]
            if top.get("significant"):
                firsts[top["section"]] = firsts.get(top["section"], 0) + 1
    if not cars:
        return {"text": "no car has enough clean laps"}
    n_sig = sum(firsts.values())
    if not firsts:
        return {"text": f"no significant section-specific loss among {cars} cars", "cars": cars,
                "cars_significant": 0}
    ranked = sorted(firsts, key=lambda k: (-firsts[k], k))
    top, second = ranked[0], (ranked[1] if len(ranked) > 1 else None)
    out = {"top_section": top, "cars_with_it_first": firsts[top], "cars": cars, "cars_significant": n_sig,
           "runner_up": second, "cars_with_runner_up_first": firsts.get(second, 0) if second else 0}
    tail = f"; {cars - n_sig} of {cars} cars have no significant section-specific loss"
    if second and firsts[second] == firsts[top]:
        tied = [k.upper() for k in ranked if firsts[k] == firsts[top]]
        return {**out, "top_section": None,
                "text": f"no single most common weakness: {', '.join(tied)} each rank 1 (significant) for "
                        f"{firsts[top]} cars" + tail}
    text = f"most common significant weakness {top.upper()}: rank 1 for {firsts[top]} of {cars} cars"
    if second:
        text += f" (next {second.upper()}: {firsts[second]})"
    return {**out, "text": text + tail}


def headline_weather_track(doc: dict) -> dict:
    if not doc.get("identifiable"):
        return {"text": f"not identifiable: {doc.get('reason')}", "identifiable": False}
    est = doc["track_temp_s_per_c"]
    note = doc.get("note")
    return {"text": f"track temp {_interval(est, 's/°C')}" + (f"; {note}" if note else ""), "identifiable": True,
            "slope_s_per_c": est.get("value"), "slope_lo": est.get("lo"), "slope_hi": est.get("hi"), "note": note}


def headline_weather(doc: dict) -> dict:
    if doc.get("scope") == "track":
        return headline_weather_track(doc)
    if not doc.get("usable"):
        return {"text": doc.get("reason", "no weather"), "usable": False}
    p = doc.get("pace_vs_track_temp", {})
    if not p.get("available"):
        reason = str(p.get("reason"))
        return {"text": reason if reason.startswith("not identifiable") else f"not identifiable: {reason}",
                "usable": True, "identifiable": False}
    est = p["slope_s_per_c"]
    note = p.get("note")
    return {"text": f"pace vs track temp {_interval(est, 's/°C')}" + (f"; {note}" if note else ""), "usable": True,
            "identifiable": True, "slope_s_per_c": est.get("value"), "slope_lo": est.get("lo"),
            "slope_hi": est.get("hi"), "note": note}


def headline_pattern(doc: dict) -> dict:
    ok = [c for c in doc.get("cars", []) if c.get("available")]
    if not ok:
        return {"text": "no car has enough clean laps"}
    rated = [c for c in ok if c.get("residual_sd_s") is not None]
    labels = [c.get("trend", {}).get("label") for c in ok]
    fdr = (doc.get("params") or {}).get("trend_fdr", 0.05)
    trends = (f"{labels.count('improving')} improving, {labels.count('degrading')} degrading of {len(ok)} cars "
              f"(pace relative to the field, not absolute tyre wear; false discovery rate {fdr:.0%})")
    out = {"improving": labels.count("improving"), "degrading": labels.count("degrading"), "cars": len(ok)}
    if not rated:
        return {**out, "text": trends}
    best = min(rated, key=lambda c: (c["residual_sd_s"], c["car"]))
    sd, n = best["residual_sd_s"], best["n_clean"]
    return {**out, "text": f"most consistent: car {best['car']} (lap-to-lap SD {sd:.3f} s around its own trend, "
                           f"n={n}); " + trends,
            "most_consistent_car": best["car"], "residual_sd_s": sd}


def headline(doc: dict) -> dict:
    """The figures the run index shows for one document: ``{"text": str, **numbers}`` (the engine
    registry names each task kind's headline function)."""
    from .engines.registry import spec_for_document
    try:
        fn = spec_for_document(doc).headline
    except ValueError:
        return {"text": ""}
    try:
        return fn(doc)
    except (KeyError, TypeError, ValueError) as exc:  # a headline never breaks a run
        return {"text": f"(no headline: {type(exc).__name__}: {exc})"}



# ---------------------------------------------------------------------------------------- manifest

def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(run_dir: str | os.PathLike, store: dict | None = None) -> dict:
    """Write ``<run_dir>/results.json``: every engine document of the run (path, engine, scope,
    race/track, sha256) and, when the run went to a results store, what was published there (``store``:
    url, run id, data version, counts, failed tasks, or the error). Returns the manifest."""
    run_dir = Path(run_dir)
    docs = []
    for path in sorted(run_dir.glob("*/*.json")):
        try:
            doc, meta = load_document(path)
        except (OSError, json.JSONDecodeError):
            continue
        if "engine" not in doc:
            continue
        docs.append({"path": path.relative_to(run_dir).as_posix(), "engine": doc["engine"],
                     "scope": doc.get("scope", "race"), "race_id": doc.get("race_id"),
                     "track_id": doc.get("track_id"), "run_id": meta.get("run_id"), "sha256": sha256_file(path)})
    manifest = {"run_dir": str(run_dir), "documents": docs, "written_utc": now_utc(),
                "store": store or {"url": None, "published": False,
                                   "note": "no store URL given: the documents are the JSON files listed here"}}
    tmp = run_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, run_dir / MANIFEST)
    return manifest


__all__ = ["save_document", "load_document", "run_meta", "headline", "write_manifest", "document_name", "part_name",
           "store_document", "stored_text", "META_KEY"]
