"""The container's contract, without a container engine (none can pull a base image here).

1. The Dockerfile, linted: multi-stage (Node builds web/ with ``npm ci && npm run build``; a slim Python
   image gets the wheel and ``web/dist``), base images pinned by version or digest, a non-root user, no
   secret baked in, ``PORT`` honoured (never a fixed port in the command), a health check on ``/health``;
   the ``.dockerignore`` lets in what the Dockerfile copies and nothing else of the checkout.
2. The image, rehearsed: the wheel is built with the Dockerfile's command, installed into a fresh venv
   from the wheel (no source tree on the path, started from an empty folder), then both entry points run
   the way the image runs them, with the image's ``ENV`` (its ``/opt`` and ``/tmp`` paths moved under
   the test's folder) and Cloud Run's environment: the job (``CLOUD_RUN_JOB``) runs one race and one
   engine of the sample season into a store, and the service (``PORT``, ``K_SERVICE``) answers
   ``/health``, ``/`` and ``/races`` from it.

Lean on purpose: the wheel is installed with ``--no-deps`` and the fresh venv borrows its dependencies
from this venv's site-packages through a path file (installing ~1 GB of scientific wheels would take
minutes); the path entry adds that folder only, not its ``.pth`` files, so the editable install of the
checkout is not on the path. ``pip check`` then proves the borrowed packages satisfy the wheel's
requirements. The static build is ``web/dist`` when the web app has been built, else the placeholder
page the wheel carries (``serve/web``).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
SECRET_NAMES = re.compile(r"SECRET|TOKEN|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY|CREDENTIALS|ACCESS_KEY", re.I)


# ------------------------------------------------------------------ Dockerfile parsing

def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order, continuation lines joined, comments dropped."""
    out, buf = [], ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            buf += line.rstrip()[:-1] + " "
            continue
        buf += line
        op, _, args = buf.strip().partition(" ")
        out.append((op.upper(), args.strip()))
        buf = ""
    return out


def stages(ins: list[tuple[str, str]]) -> list[dict]:
    """Each ``FROM`` stage: its image (ARG defaults substituted), name and instructions."""
    args = {}
    out = []
    for op, rest in ins:
        if op == "ARG" and not out:
            k, _, v = rest.partition("=")
            args[k.strip()] = v.strip()
        elif op == "FROM":
            parts = rest.split()
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), parts[0])
            name = parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None
            out.append({"image": image, "name": name, "ins": []})
        else:
            out[-1]["ins"].append((op, rest))
    return out


def env_of(stage: dict) -> dict[str, str]:
    env = {}
    for op, rest in stage["ins"]:
        if op == "ENV":
            for tok in shlex.split(rest):
                k, _, v = tok.partition("=")
                env[k] = v
    return env


def exec_form(stage: dict, op: str) -> list[str]:
    [rest] = [r for o, r in stage["ins"] if o == op][-1:]
    return json.loads(rest)


@pytest.fixture(scope="module")
def docker():
    ins = instructions(DOCKERFILE.read_text())
    return ins, stages(ins)


# ------------------------------------------------------------------ 1. lint

def test_dockerfile_is_multi_stage_node_then_slim_python(docker):
    _, st = docker
    assert len(st) >= 2
    web = [s for s in st if s["image"].startswith("node:")]
    assert web, "no Node stage"
    runs = " && ".join(r for o, r in web[0]["ins"] if o == "RUN")
    assert "npm ci" in runs and "npm run build" in runs
    copies = [r for o, r in web[0]["ins"] if o == "COPY"]
    assert any("web/package.json" in c and "web/package-lock.json" in c for c in copies)
    final = st[-1]
    assert re.match(r"python:[\d.]+-slim", final["image"]), final["image"]
    final_copies = [r for o, r in final["ins"] if o == "COPY"]
    assert any(f"--from={web[0]['name']}" in c and "/web/dist" in c for c in final_copies)
    assert any(".whl" in r and "pip install" in r for o, r in final["ins"] if o == "RUN")
    assert env_of(final)["KAIZENLAP_WEB_DIR"] in " ".join(final_copies)   # serve finds the static build


def test_base_images_are_pinned(docker):
    _, st = docker
    for s in st:
        image = s["image"]
        if any(image == other["name"] for other in st):
            continue
        assert "$" not in image, f"unresolved base image {image}"
        if "@sha256:" in image:
            assert re.search(r"@sha256:[0-9a-f]{64}$", image), image
            continue
        tag = image.rsplit(":", 1)[-1] if ":" in image else ""
        assert re.match(r"\d+\.\d+\.\d+", tag), f"{image}: pin a full version (or a digest), not {tag or 'latest'}"


def test_runs_as_non_root(docker):
    _, st = docker
    final = st[-1]
    users = [r for o, r in final["ins"] if o == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    ops = [o for o, _ in final["ins"]]
    assert ops.index("USER") > max(i for i, o in enumerate(ops) if o == "RUN")   # nothing runs as root after


def test_no_secrets_baked_in(docker):
    ins, st = docker
    for op, rest in ins:
        if op in ("ENV", "ARG", "LABEL"):
            names = [t.partition("=")[0] for t in shlex.split(rest)] if op != "ARG" else [rest.partition("=")[0]]
            bad = [n for n in names if SECRET_NAMES.search(n) or n == "GOOGLE_APPLICATION_CREDENTIALS"]
            assert not bad, f"{op} {rest}"
        if op in ("COPY", "ADD"):
            srcs = [x for x in rest.split()[:-1] if not x.startswith("--")]
            keys = [x for x in srcs if re.search(r"\.(pem|key|p12)$|\.env$|credential|service.?account|-key\.json$",
                                                 x, re.I) or (x.endswith(".json") and not x.endswith(
                                                     ("package.json", "package-lock.json")))]
            assert not keys, f"{op} {rest}"
            assert not re.search(r"https?://", rest), f"{op} {rest}: no remote ADD"
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[[i for i, l in enumerate(ignore) if l.strip() and not l.startswith("#")][0]].strip() == "**"
    assert any("credentials" in l for l in ignore) and "**/.env" in ignore


def test_dockerignore_lets_in_exactly_what_is_copied(docker):
    _, st = docker
    allowed = {l[1:].strip().rstrip("/") for l in (ROOT / ".dockerignore").read_text().splitlines()
               if l.startswith("!")}
    for s in st:
        for op, rest in s["ins"]:
            if op != "COPY" or "--from=" in rest:
                continue
            for src in rest.split()[:-1]:
                top = src.split("/")[0]
                assert top in allowed, f"COPY {src}: not let in by .dockerignore"
    assert allowed >= {"pyproject.toml", "setup.py", "lib", "serve", "params", "notebooks", "web"}
    assert not allowed & {".venv", "data", "reports", ".kaizenlap", ".git", "tests"}


def test_port_is_honoured_and_health_checked(docker):
    _, st = docker
    final = st[-1]
    command = exec_form(final, "ENTRYPOINT") + exec_form(final, "CMD")
    assert command == ["kaizenlap", "serve"]
    assert not any(a.startswith("--port") or a.isdigit() for a in command), "a fixed port in the command"
    assert env_of(final).get("KAIZENLAP_HOST") == "0.0.0.0"         # Cloud Run's front end reaches it
    [health] = [r for o, r in final["ins"] if o == "HEALTHCHECK"]
    assert "/health" in health and "PORT" in health and "CMD" in health
    assert any(o == "EXPOSE" and r == env_of(final)["PORT"] for o, r in final["ins"])


# ------------------------------------------------------------------ 2. the image, rehearsed

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


@pytest.fixture(scope="module")
def image(docker, tmp_path_factory):
    """The runtime stage rehearsed under a folder: ``(venv, env)``, env as the container would have it."""
    _, st = docker
    tmp = tmp_path_factory.mktemp("image")
    wheel_stage = [s for s in st if any("python -m build" in r for o, r in s["ins"] if o == "RUN")][0]
    [build_cmd] = [r for o, r in wheel_stage["ins"] if o == "RUN" and "python -m build" in r]
    assert build_cmd == "python -m build --wheel --outdir /dist"
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], check=True,
                   capture_output=True, timeout=300)
    [wheel] = dist.glob("kaizenlap-*.whl")
    final = st[-1]
    [install] = [r for o, r in final["ins"] if o == "RUN" and ".whl" in r]
    assert install.startswith("python -m venv /opt/kaizenlap && /opt/kaizenlap/bin/pip install /tmp/dist/*.whl")
    venv = tmp / "opt" / "kaizenlap"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "zz_borrowed_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    mapped = {"/opt/kaizenlap": str(venv), "/tmp/kaizenlap": str(tmp / "state")}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KAIZENLAP_", "PYTHON", "VIRTUAL_ENV", "GCS_", "FIRESTORE_", "K_", "CLOUD_RUN"))}
    for k, v in env_of(final).items():
        for a, b in mapped.items():
            v = v.replace(a, b)
        env[k] = v.replace("$PATH", os.environ.get("PATH", ""))
    web_dist = ROOT / "web" / "dist"
    if (web_dist / "index.html").exists():
        env["KAIZENLAP_WEB_DIR"] = str(web_dist)
    else:
        env.pop("KAIZENLAP_WEB_DIR")         # not built on this branch: the wheel's placeholder page (serve/web)
    env["KAIZENLAP_HOST"] = "127.0.0.1"      # 0.0.0.0 in the image; nothing here listens beyond loopback
    run_dir = tmp / "cwd"
    run_dir.mkdir()
    return venv, env, run_dir


def test_the_wheel_alone_is_the_product(image):
    venv, env, cwd = image
    out = subprocess.run([str(venv / "bin" / "python"), "-c",
                          "import json, sys, kaizenlap, serve, kaizenlap.core.params as p, kaizenlap.lab as n;"
                          "print(json.dumps([kaizenlap.__file__, serve.__file__, str(p.params_dir()),"
                          " sorted(x.name for x in (n.repo_root() / 'notebooks').glob('*.ipynb')), sys.path]))"],
                         env=env, cwd=cwd, check=True, capture_output=True, text=True)
    kfile, sfile, pdir, notebooks, path = json.loads(out.stdout)
    for f in (kfile, sfile, pdir):
        assert f.startswith(str(venv)) and not f.startswith(str(ROOT)), f
    assert notebooks == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    borrowed = sysconfig.get_paths()["purelib"]                       # dependencies only (module docstring)
    assert not [p for p in path if p.startswith(str(ROOT)) and p != borrowed], path
    check = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "check"], env=env, cwd=cwd,
                           capture_output=True, text=True)
    assert not [l for l in check.stdout.splitlines() if l.lower().startswith("kaizenlap")], check.stdout


def test_job_then_service_as_on_cloud_run(image, tmp_path):
    venv, env, cwd = image
    exe = str(venv / "bin" / "kaizenlap")
    store = f"sqlite:///{tmp_path / 'store.db'}"
    subprocess.run([exe, "sample", str(tmp_path / "sample")], env=env, cwd=cwd, check=True, capture_output=True,
                   timeout=120)
    job_env = {**env, "CLOUD_RUN_JOB": "kaizenlap-pipeline", "CLOUD_RUN_EXECUTION": "kaizenlap-pipeline-x1",
               "KAIZENLAP_STORE": store}
    job = subprocess.run([exe, "run", "--data", str(tmp_path / "sample"), "--races", "barber-r1", "--engines",
                          "pattern", "--workers", "1", "--no-reports"], env=job_env, cwd=cwd, capture_output=True,
                         text=True, timeout=600)
    assert job.returncode == 0, job.stderr[-3000:]
    assert (Path(env["KAIZENLAP_REPORTS"]) / "latest" / "run.json").exists()   # $KAIZENLAP_REPORTS, not cwd

    port = _free_port()
    svc_env = {**env, "PORT": str(port), "K_SERVICE": "kaizenlap", "K_REVISION": "kaizenlap-00001-abc",
               "K_CONFIGURATION": "kaizenlap", "KAIZENLAP_STORE": store}
    final_cmd = [exe, "serve"]                       # ENTRYPOINT + CMD (test_port_is_honoured_and_health_checked)
    proc = subprocess.Popen(final_cmd, env=svc_env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body, _ = _get(f"{base}/health")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"service did not start: {proc.stdout.read().decode()[-3000:]}")
                time.sleep(0.2)
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok" and health["data_version"], health
        status, body, headers = _get(f"{base}/")
        assert status == 200 and headers["content-type"].startswith("text/html") and b"<html" in body.lower()
        status, body, _ = _get(f"{base}/races")
        assert status == 200, body
        assert [r["race_id"] for r in json.loads(body)["items"]] == ["barber-r1"]
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
