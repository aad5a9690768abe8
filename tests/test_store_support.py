"""Fixtures shared by test_store.py and test_api.py (imported by both; no tests here).

The Firestore emulator is started once per session (the official binary, on a free loopback port) and
stopped at the end; each store fixture gets its own project id and wipes it with the emulator's DELETE
endpoint. Without the binary the Firestore cases skip, or fail when KAIZENLAP_REQUIRE_EMULATOR=1.
"""
from __future__ import annotations

import copy
import itertools
import os
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:          # serve/ lives at the project root
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("GCE_METADATA_HOST", "127.0.0.1:9")
os.environ.setdefault("GCE_METADATA_IP", "127.0.0.1:9")

BACKENDS = ["sqlite", "firestore"]
_emu_lock = threading.Lock()
_emu = {"obj": None, "users": 0}
_projects = itertools.count(1)


def _require() -> bool:
    return os.environ.get("KAIZENLAP_REQUIRE_EMULATOR") == "1"


@pytest.fixture(scope="session")
def firestore_emulator():
    """The running emulator (shared by every module that imports this fixture)."""
    from kaizenlap.store.emulator import FirestoreEmulator, find_binary
    if not find_binary():
        msg = "Firestore emulator binary not found (set KAIZENLAP_FIRESTORE_EMULATOR)"
        if _require():
            pytest.fail(msg)
        pytest.skip(msg)
    with _emu_lock:
        if _emu["obj"] is None:
            _emu["obj"] = FirestoreEmulator().start()
        _emu["users"] += 1
        emu = _emu["obj"]
    os.environ["FIRESTORE_EMULATOR_HOST"] = emu.host
    yield emu
    with _emu_lock:
        _emu["users"] -= 1
        if _emu["users"] == 0:
            _emu["obj"].stop()
            _emu["obj"] = None


def new_store_url(backend: str, tmp_path: Path, request) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    emu = request.getfixturevalue("firestore_emulator")
    project = f"demo-kaizenlap-{os.getpid()}-{next(_projects)}"
    emu.wipe(project)
    return f"firestore://{project}"


@pytest.fixture(scope="session")
def mini_races(tmp_path_factory):
    """Two small hand-made races at Barber (tests/minirace.py): 3 cars x 8 laps each."""
    from minirace import write_race

    from kaizenlap.ingest.loader import load
    folder = tmp_path_factory.mktemp("mini") / "barber"
    write_race(folder, 1)
    write_race(folder, 2)
    races, _ = load([folder], use_cache=False)
    assert [r.race_id for r in races] == ["barber-r1", "barber-r2"]
    return races


@pytest.fixture(scope="session")
def mini_docs(mini_races):
    from kaizenlap.tasks import inprocess
    return inprocess.documents_for_races(mini_races)


@pytest.fixture(scope="session")
def real_docs(real_races):
    """Documents of one real race (Barber race 1), built by the engines."""
    from kaizenlap.tasks import inprocess
    return inprocess.documents_for_races([real_races["barber-r1"]])


def tagged(docs: dict, generation: int) -> dict:
    """A copy of ``docs`` with ``generation`` on every document (to detect a mix of runs)."""
    out = copy.deepcopy(docs)
    for items in out.values():
        for d in items:
            d["generation"] = generation
    return out
