import os
import sys
import tempfile
from pathlib import Path

import pytest

from kaizenlap.core.environment import env

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
# Tests never write the developer's cache.
os.environ.setdefault("KAIZENLAP_CACHE", tempfile.mkdtemp(prefix="kaizenlap-test-cache-"))
os.environ.setdefault("GCE_METADATA_HOST", "127.0.0.1:9")
os.environ.setdefault("GCE_METADATA_IP", "127.0.0.1:9")

TRD = Path(env("KAIZENLAP_TRD") or ROOT.parent / "shared" / "trd")


@pytest.fixture(scope="session")
def trd_dir() -> Path:
    if not (TRD / "README.md").exists():
        msg = f"real TRD files not found at {TRD} (set KAIZENLAP_TRD)"
        if os.environ.get("KAIZENLAP_REQUIRE_TRD"):
            pytest.fail(msg)
        pytest.skip(msg)
    return TRD


@pytest.fixture(scope="session")
def real_races(trd_dir):
    from kaizenlap.ingest.loader import load
    races, issues = load([trd_dir], use_cache=False)
    return {r.race_id: r for r in races}
