"""Issue 9 item 9: property-based fuzzing of ingest (hypothesis), bounded and deadline-free.

Each example mutates ONE file of a race (byte flips, truncation, inserted delimiters, quotes and line
breaks, header edits, duplicated lines) and reads the whole race with ``ingest.load_race`` (not the
safety net): no exception may escape, and every ledger entry about a file names that file. The seeds are
the real TRD files of one race when they are present (read at test time, never copied) and always the
hand-made mini race. A zip of the race is fuzzed the same way through ``ingest.load``.

Inputs that once failed are kept, minimised and hand-made, in ``tests/fuzz_corpus/`` (``<role>__<what>.csv``)
and replayed first.
"""
from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import minirace
from kaizenlap.core import ids
from kaizenlap.ingest import loader as ingest
from kaizenlap.ingest.loader import load_race
from kaizenlap.ingest.files import RaceFiles, SourceFile
from kaizenlap.ingest.sources import classify, discover

CORPUS = Path(__file__).parent / "fuzz_corpus"
ROLES = ("sections", "weather", "best10", "results_overall", "results_class", "lap_time", "lap_start", "lap_end")
EXAMPLES = 10                      # per role and seed: 8 roles x 2 seeds x 12 + zip, well under a minute
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
MAX_LINES = 120                    # the seeds are cut to their first lines: the parsers see every feature
# A file name per role, for the corpus inputs whose role the mini race has no file of.
NAMES = {"sections": "23_AnalysisEnduranceWithSections_Race 1.CSV", "weather": "26_Weather_Race 1.CSV",
         "best10": "99_Best 10 Laps_Race 1.CSV", "results_overall": "03_Results_Race 1.CSV",
         "results_class": "05_Results by Class_Race 1.CSV", "lap_time": "R1_barber_lap_time.csv",
         "lap_start": "R1_barber_lap_start.csv", "lap_end": "R1_barber_lap_end.csv"}


def _mini_race(tmp: Path) -> dict[str, tuple[str, bytes]]:
    files = minirace.write_race(tmp / "barber", 1)
    return {role: (p.name, p.read_bytes()) for role, p in files.items()}


def _seed_races(tmp_path_factory, trd: Path | None) -> list[dict[str, tuple[str, bytes]]]:
    seeds = [_mini_race(tmp_path_factory.mktemp("fuzzmini"))]
    if trd is not None:
        found, _ = discover([trd / "barber"])
        race = next(r for r in found if r.race_id == "barber-r1")
        real = {}
        for role, srcs in race.files.items():
            lines = srcs[0].read_bytes().split(b"\n")[:MAX_LINES]
            real[role] = (srcs[0].name, b"\n".join(lines) + b"\n")
        seeds.append(real)
    return seeds


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    from conftest import TRD
    return _seed_races(tmp_path_factory, TRD if (TRD / "README.md").exists() else None)


def _race_of(files: dict[str, tuple[str, bytes]], root: Path) -> RaceFiles:
    """A RaceFiles whose contents are given (nothing read from disk)."""
    rf = RaceFiles("barber", 1)
    for role, (name, data) in files.items():
        src = SourceFile(root / name)
        rf.files.setdefault(role, []).append(src)
        rf._contents[src] = data
    return rf


HOSTILE = [b"1e30", b"-5", b"2.5", b"", b'"', b"NaN", b"inf", b"9" * 25, b"99999999:00:00.000", b'"x\ny"',
           b"-1:00.000", b"1:60.000", b"\xff", b"0x10", b"1,5", b" ", b"x" * 300,
           # issue 18: odd car numbers (a slash, a zero-width space, full-width digits, over Firestore's 1,500-byte
           # document id), Latin-1 beside UTF-8, markup from the data
           b"13/B", "7\u200b".encode(), "\uff10\uff13".encode(), b"9" * 1490,
           "\u00c9quipe L\u00e9g\u00e8re".encode("latin-1"), b"<script>alert(1)</script>", b".", b"__x__"]
# Issue 18's car numbers put in the first column (NUMBER of the lap file, the car of most others) of a data line.
CAR_CASES = [[("field", (0.3, 0), v)] for v in (b"13/B", "7\u200b".encode(), b"9" * 1490, b"__x__", b".")]

MUTATION = st.one_of(
    st.tuples(st.just("field"), st.tuples(st.floats(0, 1), st.integers(0, 60)), st.sampled_from(HOSTILE)),
    st.tuples(st.just("field"), st.tuples(st.floats(0, 1), st.integers(0, 60)), st.sampled_from(HOSTILE)),
    st.tuples(st.just("rename"), st.tuples(st.integers(0, 60), st.integers(0, 60)), st.just(b"")),
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1),
              st.sampled_from([b";", b",", b'"', b"\n", b"\r", b'";"', b"\x00", b"\xff\xfe", b"-", b"1e30",
                               b"NaN", b"9" * 25, b"  ", b"\xc3("])),
    st.tuples(st.just("header"), st.integers(0, 60),
              st.sampled_from([b"", b"NUMBER", b"LAP_NUMBER", b"TIME_UTC_SECONDS", b"BESTLAP_1", b"x;y", b'"'])),
    st.tuples(st.just("dupline"), st.floats(0, 1), st.integers(1, 3)),
    st.tuples(st.just("delline"), st.floats(0, 1), st.just(0)),
)


def mutate(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for op, where, what in ops:
        at = int(where * len(b)) if isinstance(where, float) else 0
        if op in ("field", "rename"):
            lines = bytes(b).split(b"\n")
            delim = b";" if lines[0].count(b";") >= lines[0].count(b",") else b","
            if op == "field":
                i = 1 + min(int(where[0] * (len(lines) - 1)), max(len(lines) - 2, 0))
            else:
                i = 0
            fields = lines[min(i, len(lines) - 1)].split(delim)
            j = where[1] % len(fields)
            fields[j] = what if op == "field" else lines[0].split(delim)[where[0] % len(lines[0].split(delim))]
            lines[min(i, len(lines) - 1)] = delim.join(fields)
            b = bytearray(b"\n".join(lines))
        elif op == "flip" and b:
            b[min(at, len(b) - 1)] = what
        elif op == "truncate":
            del b[at:]
        elif op == "insert":
            b[at:at] = what
        elif op == "header":
            head, sep, rest = bytes(b).partition(b"\n")
            delim = b";" if head.count(b";") >= head.count(b",") else b","
            names = head.split(delim)
            names[where % max(len(names), 1)] = what
            b = bytearray(delim.join(names) + sep + rest)
        elif op in ("dupline", "delline"):
            lines = bytes(b).split(b"\n")
            i = min(int(where * len(lines)), len(lines) - 1)
            lines[i:i + 1] = [lines[i]] * (what + 1) if op == "dupline" else []
            b = bytearray(b"\n".join(lines))
    return bytes(b)


def _check(race, files: dict, root: Path) -> None:
    known = {str(root / name) for name, _ in files.values()}
    for issue in race.issues:
        assert issue.code != "ingest_error", issue               # the safety net must never be needed
        if issue.file is not None:
            assert issue.file in known, issue                    # every entry names its (real) file
    if race.status == "failed":
        assert any(i.severity == "error" or i.code == "missing_file" for i in race.issues), race.issues
    # every car kept makes valid ids on both stores and in the API's paths (issue 18, item 3): a car number
    # that cannot is dropped at ingest with an entry, never left to fail the publishing of the whole run
    if race.laps is not None and len(race.laps):
        for car in race.laps["car"].unique():
            ids.check_id("car", str(car))
            assert ids.valid_doc_id(ids.doc_id(race.race_id, car, ids.lap_key(1), "im3a")), car


def _examples(cases):
    """``hypothesis.example`` for each case: the inputs of issue 18 tried on every run, besides the random ones."""
    def deco(fn):
        for ops in cases:
            fn = example(ops=ops)(fn)
        return fn
    return deco


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_one_file_of_a_race(seeds, role, tmp_path):
    root = tmp_path
    for files in seeds:
        if role not in files:
            continue

        @FUZZ
        @given(ops=st.lists(MUTATION, min_size=1, max_size=4))
        @_examples(CAR_CASES)
        def prop(ops):
            name, data = files[role]
            mutated = {**files, role: (name, mutate(data, ops))}
            race = load_race(_race_of(mutated, root))          # raises = a failing example
            _check(race, mutated, root)
        prop()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                       # zipfile warns "Duplicate name"
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items() if isinstance(members, dict) else members:
                # a fixed date: the same bytes every run, so derandomized flips hit the same places
                zf.writestr(zipfile.ZipInfo(name, date_time=(2025, 9, 6, 12, 0, 0)), data,
                            compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


# Zip layouts (issue 18, item 7): as the TRD ships them; a Windows tool's backslash member paths; a member
# written twice; the race's zip inside another zip (the flips then hit the inner zip).
LAYOUTS = ("flat", "backslash", "duplicate", "nested")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fuzz_zip_of_a_race(seeds, tmp_path, layout):
    files = seeds[-1]
    sep = "\\" if layout == "backslash" else "/"
    members = [(f"barber{sep}{name}", data) for name, data in files.values()]
    if layout == "duplicate":
        members.append(members[0])
    good = _zip(members)
    zp = tmp_path / "barber.zip"
    wrap = (lambda b: _zip({"barber_inner.zip": b})) if layout == "nested" else (lambda b: b)
    zp.write_bytes(wrap(good))
    races, _ = ingest.load([zp], use_cache=False)
    assert [r.race_id for r in races] == ["barber-r1"] and races[0].status == "loaded", layout   # unmutated: read

    @settings(max_examples=40 if layout == "flat" else 12, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), min_size=1, max_size=6),
           cut=st.one_of(st.none(), st.floats(0.05, 1)))
    def prop(flips, cut):
        b = bytearray(good)
        for where, value in flips:
            b[min(int(where * len(b)), len(b) - 1)] = value
        if cut is not None:
            del b[int(cut * len(b)):]
        zp.write_bytes(wrap(bytes(b)))
        races, issues = ingest.load([zp], use_cache=False)      # raises = a failing example
        for i in issues:       # an input-level entry names the zip, or the member of it (a zip inside it, or a
            # file whose mangled name gives no race number) that it is about
            assert i.file == str(zp) or (i.file or "").startswith(f"{zp.name}!"), i
        for race in races:
            for i in race.issues:
                assert i.code != "ingest_error", i
                assert i.file is None or i.file.startswith(f"{zp.name}!"), i
    prop()


# ------------------------------------------------------------------ the corpus of minimised failures

def _corpus():
    return sorted(CORPUS.glob("*.csv"))


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.stem)
def test_fuzz_corpus(path, tmp_path):
    """Each kept input replaces its role's file in the mini race; the race must read without an exception,
    and the entry the input was kept for (``<role>__<code>__<what>.csv``) must name its file."""
    role, code, _ = path.stem.split("__")
    files = _mini_race(tmp_path)
    name = files[role][0] if role in files else NAMES[role]
    files[role] = (name, path.read_bytes())
    race = load_race(_race_of(files, tmp_path))
    _check(race, files, tmp_path)
    hits = [i for i in race.issues if i.code == code and i.file == str(tmp_path / name)]
    assert hits, [str(i) for i in race.issues]


def test_corpus_roles_are_known():
    assert _corpus(), "the corpus of minimised failing inputs is missing"
    for path in _corpus():
        role = path.stem.split("__")[0]
        assert classify(SourceFile(Path(NAMES[role]))) == role, path.name
