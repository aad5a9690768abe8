"""deploy/deploy.sh, dry run: every gcloud command it would run, with its flags checked (nothing here
reaches Google Cloud: a ``gcloud`` stub first on PATH records any call, and there must be none).

Checked: the service and the job (image, entry point, service account, environment that the settings
accept on Cloud Run), the Firestore indexes (one per index of firestore.indexes.json, fields in order) and
least privilege (the service reads Firestore; the job reads that one bucket and writes Firestore; nothing
else is granted). Where the Cloud SDK is installed, every flag is also looked up in that command's
``--help`` (offline).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from kaizenlap.core.settings import load

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "deploy" / "deploy.sh"
PROJECT = "kaizenlap-demo"
SERVICE_SA = f"kaizenlap-api@{PROJECT}.iam.gserviceaccount.com"
JOB_SA = f"kaizenlap-pipeline@{PROJECT}.iam.gserviceaccount.com"


def _dry_run(tmp_path: Path, *steps: str, **env) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    (stub / "gcloud").write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'called'}\n")
    (stub / "gcloud").chmod(0o755)
    full = {k: v for k, v in os.environ.items() if not k.startswith(("GCS_", "FIRESTORE_", "GOOGLE_CLOUD"))}
    full.update(PATH=f"{stub}:{os.environ['PATH']}", **env)
    proc = subprocess.run(["bash", str(SCRIPT), "--dry-run", *steps], env=full, capture_output=True, text=True,
                          timeout=60)
    assert not (tmp_path / "called").exists(), "the dry run called gcloud"
    cmds = [shlex.split(line[2:]) for line in proc.stdout.splitlines() if line.startswith("+ ")]
    return proc, cmds


def _flags(cmd: list[str]) -> dict[str, str]:
    out = {}
    for w in cmd:
        if w.startswith("--"):
            k, _, v = w.partition("=")
            out.setdefault(k, v)
    return out


def _env_vars(cmd: list[str]) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in _flags(cmd)["--set-env-vars"].split(","))


@pytest.fixture
def plan(tmp_path):
    proc, cmds = _dry_run(tmp_path, "all", GOOGLE_CLOUD_PROJECT=PROJECT, GCS_BUCKET_NAME="kaizenlap-demo-trd",
                          GCS_PREFIX="seasons/2025", TAG="v1")
    assert proc.returncode == 0, proc.stderr
    assert cmds and all(c[0] == "gcloud" for c in cmds)
    return cmds


def _one(cmds, *words):
    hits = [c for c in cmds if c[1:1 + len(words)] == list(words)]
    assert len(hits) == 1, (words, hits)
    return hits[0]


IMAGE = f"us-central1-docker.pkg.dev/{PROJECT}/kaizenlap/kaizenlap:v1"


def test_service(plan):
    cmd = _one(plan, "run", "deploy")
    f = _flags(cmd)
    assert cmd[3] == "kaizenlap" and f["--image"] == IMAGE and f["--service-account"] == SERVICE_SA
    assert "--allow-unauthenticated" in f and f["--port"] == "8080" and f["--region"] == "us-central1"
    assert "--command" not in f and "--args" not in f                  # the image's CMD: kaizenlap serve
    env = _env_vars(cmd)
    assert "PORT" not in env                                           # Cloud Run sets it
    assert not {"GCS_BUCKET_NAME", "GCS_PREFIX"} & set(env)             # the service never reads the bucket
    cfg = load({**env, "K_SERVICE": "kaizenlap", "PORT": "8080"})
    cfg.check("serve")
    assert cfg.store_url() == f"firestore://{PROJECT}" and cfg.bind_host() == "0.0.0.0"
    assert _one(plan, "builds", "submit")[-1] == "." and _flags(_one(plan, "builds", "submit"))["--tag"] == IMAGE


def test_job(plan):
    cmd = _one(plan, "run", "jobs", "deploy")
    f = _flags(cmd)
    assert cmd[4] == "kaizenlap-pipeline" and f["--image"] == IMAGE and f["--service-account"] == JOB_SA
    assert f["--command"] == "kaizenlap" and f["--args"].split(",")[0] == "run"
    assert f["--max-retries"] == "0" and re.fullmatch(r"\d+s", f["--task-timeout"])
    env = _env_vars(cmd)
    cfg = load({**env, "CLOUD_RUN_JOB": "kaizenlap-pipeline"})
    cfg.check("run")
    assert cfg.data() == ["gs://kaizenlap-demo-trd/seasons/2025"] and cfg.store_url() == f"firestore://{PROJECT}"
    upload = _one(plan, "storage", "rsync")
    assert [w for w in upload[3:] if not w.startswith("--")] == ["data/sample", "gs://kaizenlap-demo-trd/seasons/2025"]
    assert _flags(_one(plan, "run", "jobs", "execute"))["--wait"] == ""
    order = [" ".join(c[1:3]) for c in plan]
    assert order.index("run jobs") < order.index("run deploy")          # data before the service goes live


def test_least_privilege(plan):
    grants = []
    for c in plan:
        if "add-iam-policy-binding" in c:
            f = _flags(c)
            where = c[c.index("add-iam-policy-binding") + 1]
            grants.append((where, f["--member"], f["--role"]))
    assert sorted(grants) == sorted([
        (PROJECT, f"serviceAccount:{SERVICE_SA}", "roles/datastore.viewer"),        # the service: read Firestore
        (PROJECT, f"serviceAccount:{JOB_SA}", "roles/datastore.user"),              # the job: write Firestore
        ("gs://kaizenlap-demo-trd", f"serviceAccount:{JOB_SA}", "roles/storage.objectViewer"),  # that bucket only
    ])
    bucket = _one(plan, "storage", "buckets", "create")
    assert "--uniform-bucket-level-access" in bucket and "--public-access-prevention" in bucket


def test_indexes_follow_firestore_indexes_json(plan):
    want = [(ix["collectionGroup"], ix["queryScope"],
             [f"field-path={f['fieldPath']},order={f['order'].lower()}" for f in ix["fields"]])
            for ix in json.loads((ROOT / "firestore.indexes.json").read_text())["indexes"]]
    got = []
    for c in plan:
        if c[1:5] == ["firestore", "indexes", "composite", "create"]:
            f = _flags(c)
            got.append((f["--collection-group"], f["--query-scope"],
                        [w.split("=", 1)[1] for w in c if w.startswith("--field-config=")]))
            assert f["--database"] == "(default)" and f"--project={PROJECT}" in c and "--async" in c
    assert got == want and len(got) > 10


def test_settings_are_checked_before_anything(tmp_path):
    proc, cmds = _dry_run(tmp_path, "all")
    assert proc.returncode == 2 and cmds == []
    assert proc.stderr.strip() == "deploy.sh: GOOGLE_CLOUD_PROJECT is required (the project id)"
    proc, cmds = _dry_run(tmp_path, "job", GOOGLE_CLOUD_PROJECT=PROJECT, GCS_BUCKET_NAME="gs://x")
    assert proc.returncode == 2 and cmds == [] and "without gs://" in proc.stderr
    env = _env_vars(_one(_dry_run(tmp_path, "service", GOOGLE_CLOUD_PROJECT=PROJECT,
                                  FIRESTORE_PROJECT_ID="kaizenlap-data", FIRESTORE_DATABASE="kaizenlap")[1],
                         "run", "deploy"))
    assert load({**env, "K_SERVICE": "kaizenlap"}).store_url() == "firestore://kaizenlap-data/kaizenlap"


GCLOUD_COMMANDS = [tuple(c.split()) for c in (
    "services enable", "firestore databases create", "storage buckets create", "storage buckets add-iam-policy-binding",
    "artifacts repositories create", "iam service-accounts create", "projects add-iam-policy-binding",
    "firestore indexes composite create", "storage rsync", "builds submit", "run jobs deploy", "run jobs execute",
    "run deploy", "run services describe")]


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="Cloud SDK not installed: flags not looked up")
def test_every_flag_is_one_gcloud_knows(plan, tmp_path):
    env = {**os.environ, "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
           "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true", "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true",
           "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9"}
    by_command: dict[tuple, set] = {}
    for c in plan:
        [command] = [k for k in GCLOUD_COMMANDS if tuple(c[1:1 + len(k)]) == k
                     and not any(tuple(c[1:1 + len(o)]) == o for o in GCLOUD_COMMANDS if len(o) > len(k))]
        by_command.setdefault(command, set()).update(_flags(c))
    assert set(by_command) == set(GCLOUD_COMMANDS)
    for command, flags in by_command.items():
        helptext = subprocess.run(["gcloud", *command, "--help"], env=env, capture_output=True, text=True,
                                  timeout=120).stdout
        assert helptext, command
        documented = set(re.findall(r"--[a-z][a-z0-9-]*", helptext))
        assert flags <= documented, (command, flags - documented)
