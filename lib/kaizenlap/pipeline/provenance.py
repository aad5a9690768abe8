"""What a report came from, and what it must not show: the provenance block of every exported HTML report
and the redaction of the server's absolute paths.

A report's provenance (:func:`for_task`, completed by :func:`complete` when it is exported) names: the git
commit of the checkout (and whether it had uncommitted changes; absent without git or a repository), the
library fingerprint (:func:`kaizenlap.tasks.plan.library_hash`), the task and its fingerprint, the notebook
parameters the task used (less the run-local ones, :data:`kaizenlap.tasks.plan.RUN_LOCAL_PARAMETERS`), the
``params/`` sections it reads with their hashes (:func:`kaizenlap.tasks.plan.params_hashes`), its races' input
files with their sha256 (:func:`race_inputs`) and data hash (:func:`kaizenlap.tasks.plan.race_hash`), and
when the report was generated (UTC). :func:`render` is the block the report template shows at the top of the
page, with the same dict as JSON (``<script type="application/json" id="kaizenlap-provenance">``).

Redaction (:func:`redact_notebook`): in the text of a notebook's cells and outputs, the repository root is
removed (``/srv/kaizenlap/lib/x.py`` -> ``lib/x.py``, ``/srv/kaizenlap/data/sample`` -> ``data/sample``) and any
other absolute path keeps its last two parts (``/var/reports/<run>/barber-r1/pattern.json`` ->
``barber-r1/pattern.json``). A path inside a URL (``sqlite:////var/store.db``, ``https://...``) is left as it
is, but for the repository root.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import html
import json
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any, Iterable

from kaizenlap.core.paths import repo_root
from kaizenlap.tasks.model import Task
from kaizenlap.tasks.plan import RUN_LOCAL_PARAMETERS, library_hash, params_hashes, race_hash
from kaizenlap.tasks.registry import registry

# ------------------------------------------------------------------------------------------ sources


def git_state(root: str | Path | None = None) -> dict | None:
    """``{"commit": sha, "dirty": bool}`` of the checkout at ``root`` (the repository root), or None when
    git is not installed or the folder is not in a repository. Never raises."""
    cwd = str(root or repo_root())
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0 or not head.stdout.strip():
            return None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(),
            "dirty": bool(status.stdout.strip()) if status.returncode == 0 else None}


def _sha256_stream(fh) -> str:
    h = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


def file_sha256(display: str, data: Iterable[str | Path]) -> str | None:
    """sha256 of one of a race's files as the ingest names it (``race.files``: the location less the input's
    parent folder, ``sample/barber/x.csv`` or ``sample/sebring.zip!Sebring/x.csv``), looked up under the
    parents of the ``data`` inputs; None when it cannot be read here (Cloud Storage, moved, unreadable)."""
    outer, _, member = display.partition("!")
    for item in data:
        if isinstance(item, str) and item.startswith("gs://"):
            continue
        root = Path(item)
        for base in (root.parent, root):
            path = base / outer
            if not path.is_file():
                continue
            try:
                if member:
                    with zipfile.ZipFile(path) as zf, zf.open(member) as fh:
                        return _sha256_stream(fh)
                with open(path, "rb") as fh:
                    return _sha256_stream(fh)
            except (OSError, KeyError, zipfile.BadZipFile):
                return None
    return None


def race_inputs(races: Iterable, data: Iterable[str | Path]) -> dict[str, dict]:
    """``{race_id: {"race_hash": sha, "files": {role: {file name: sha256 or None}}}}`` of the parsed races
    (a :class:`kaizenlap.ingest.loader.Race` has ``files``: role -> file names). Compute once per run and hand
    each task's races to :func:`for_task`."""
    data = list(data)
    out: dict[str, dict] = {}
    for race in races:
        tel = getattr(race, "telemetry", None) or {}
        # a streamed file (telemetry, ~1.5 GB) is named by its cheap fingerprint (size and time, a zip member's
        # CRC), not hashed whole
        files = {role: {name: (tel.get("fingerprint") if name == tel.get("file") else None)
                        if role == "telemetry" else file_sha256(name, data) for name in names}
                 for role, names in sorted((getattr(race, "files", None) or {}).items())}
        try:
            rhash = race_hash(race)
        except Exception:  # a race that did not load has no tables to hash
            rhash = None
        out[race.race_id] = {"race_hash": rhash, "files": files}
    return out


def now_utc() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def public_parameters(parameters: dict) -> dict:
    """The notebook parameters that say what a task computed: the run-local ones (where it writes, the
    run's temporary race files, its inputs' paths) left out."""
    return {k: v for k, v in (parameters or {}).items() if k not in RUN_LOCAL_PARAMETERS}


def for_task(task: Task, *, library: str | None = None, commit: dict | None | bool = True,
             inputs: dict[str, dict] | None = None) -> dict:
    """The provenance of one task's report (see the module docstring), for ``spec["provenance"]`` of
    :func:`kaizenlap.pipeline.kernels.execute_task` or ``export_html(..., provenance=...)``. ``library``:
    the run's :func:`~kaizenlap.tasks.plan.library_hash` (computed when None); ``commit``: the run's
    :func:`git_state` (looked up when True); ``inputs``: the run's :func:`race_inputs`. The generation time is
    set when the report is exported."""
    spec = registry().get(task.name)
    return {"task": task.key, "notebook": task.notebook, "fingerprint": task.fingerprint or None,
            "git": git_state() if commit is True else commit,
            "library_hash": library or library_hash(),
            "parameters": public_parameters(task.parameters),
            "params": params_hashes(spec.params) if spec is not None else {},
            "inputs": {rid: (inputs or {})[rid] for rid in task.race_ids if rid in (inputs or {})}}


def complete(provenance: dict | None, nb=None, task_name: str | None = None) -> dict:
    """``provenance`` with what is missing filled in: commit, library fingerprint, parameters (papermill's
    record in the executed notebook's metadata), the ``params/`` sections of the task ``task_name`` (a
    registry name) and the generation time (now)."""
    prov = dict(provenance or {})
    if "git" not in prov:
        prov["git"] = git_state()
    if not prov.get("library_hash"):
        prov["library_hash"] = library_hash()
    if "parameters" not in prov and nb is not None:
        recorded = (nb.get("metadata", {}).get("papermill", {}) or {}).get("parameters")
        if recorded is not None:
            prov["parameters"] = public_parameters(dict(recorded))
    if "params" not in prov and task_name in registry():
        try:
            prov["params"] = params_hashes(registry()[task_name].params)
        except Exception as exc:          # an unreadable params file: said in the block, not fatal to the report
            prov["params"] = {"error": f"{type(exc).__name__}: {exc}"}
    prov["generated_utc"] = prov.get("generated_utc") or now_utc()
    return prov


# ------------------------------------------------------------------------------------------ redaction

# An absolute path: starts a line, follows white space, a quote or backquote, a bracket, "=", ",", ">", "*" or an
# ANSI colour code (so the path part of a URL, ``https://host/a/b`` or ``sqlite:////x/y.db``, is not one).
_ABS_PATH = re.compile(r"""(^|[\s'"`(\[{=,>*]|\x1b\[[0-9;]*m)(/(?:[^\s/'"<>:;,|*?\x1b]+/)+[^\s/'"<>:;,|*?\x1b]*)""",
                       re.MULTILINE)


def redaction_roots(parameters: dict | None = None, extra: Iterable[str | Path] = ()) -> list[tuple[str, str]]:
    """``(prefix, replacement)`` pairs, longest prefix first: the repository root and ``extra`` folders, each
    removed. (``parameters`` is accepted for callers that pass a notebook's parameters; the data and run
    folders they name are redacted by the general rule, to their last two parts.)"""
    folders = [str(repo_root()), *(str(f) for f in extra)]
    roots = {f.rstrip("/") + "/": "" for f in folders if f.rstrip("/")}
    return sorted(roots.items(), key=lambda kv: -len(kv[0]))


def _last_parts(m: re.Match) -> str:
    parts = [p for p in m.group(2).split("/") if p]
    return m.group(1) + "/".join(parts[-2:])


def redact_text(text: str, roots: list[tuple[str, str]]) -> str:
    """``text`` with the ``roots`` prefixes replaced and every other absolute path cut to its last 2 parts."""
    if not text or "/" not in text:
        return text
    for prefix, repl in roots:
        text = text.replace(prefix, repl)
        text = re.sub(re.escape(prefix.rstrip("/")) + r"(?![\w.@+-])", repl.rstrip("/") or ".", text)
    return _ABS_PATH.sub(_last_parts, text)


def redact_value(value: Any, roots: list[tuple[str, str]]) -> Any:
    """:func:`redact_text` applied to every string in a JSON-like value."""
    if isinstance(value, str):
        return redact_text(value, roots)
    if isinstance(value, dict):
        return {k: redact_value(v, roots) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v, roots) for v in value]
    return value


def _redact_source(source, roots):
    if isinstance(source, list):
        return [redact_text(s, roots) for s in source]
    return redact_text(source, roots)


def redact_notebook(nb, roots: list[tuple[str, str]]):
    """A copy of the notebook with :func:`redact_text` applied to cell sources and every text output
    (streams, ``text/*`` and JSON outputs, tracebacks); images are left as they are."""
    nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        cell["source"] = _redact_source(cell.get("source", ""), roots)
        for out in cell.get("outputs", []) or []:
            if "text" in out:
                out["text"] = _redact_source(out["text"], roots)
            if "traceback" in out:
                out["traceback"] = [redact_text(t, roots) for t in out["traceback"]]
            if "evalue" in out:
                out["evalue"] = redact_text(out["evalue"], roots)
            for mime, value in list((out.get("data") or {}).items()):
                if mime.startswith("text/") or mime.endswith("json"):
                    out["data"][mime] = redact_value(value, roots)
    return nb


# ------------------------------------------------------------------------------------------ HTML

def _short(value: Any, n: int = 12) -> str:
    return str(value)[:n] if value else "-"


def _json(value: Any) -> str:
    return html.escape(json.dumps(value, sort_keys=True, default=str))


def render(prov: dict) -> str:
    """The provenance block of a report: a one-line summary (commit, library, generated-at) that opens to the
    whole record, and the record as JSON for tools."""
    git = prov.get("git") or {}
    commit = git.get("commit")
    commit_text = f"{commit[:12]}{' (uncommitted changes)' if git.get('dirty') else ''}" if commit \
        else "not a git checkout"
    rows = [("generated (UTC)", html.escape(str(prov.get("generated_utc")))),
            ("git commit", f"<code>{html.escape(commit or '-')}</code>"
                           f"{' + uncommitted changes' if git.get('dirty') else ''}"),
            ("library fingerprint", f"<code>{html.escape(str(prov.get('library_hash')))}</code>")]
    if prov.get("task"):
        rows.append(("task", f"<code>{html.escape(str(prov['task']))}</code>"
                             f" ({html.escape(str(prov.get('notebook') or ''))})"))
    if prov.get("fingerprint"):
        rows.append(("task fingerprint", f"<code>{html.escape(str(prov['fingerprint']))}</code>"))
    if prov.get("parameters") is not None:
        rows.append(("parameters", f"<code>{_json(prov['parameters'])}</code>"))
    if prov.get("params"):
        rows.append(("params/ read", "<br>".join(f"<code>{html.escape(k)}</code> {html.escape(str(v))}"
                                                 for k, v in sorted(prov["params"].items()))))
    for rid, inp in sorted((prov.get("inputs") or {}).items()):
        lines = [f"data hash <code>{html.escape(str(inp.get('race_hash')))}</code>"]
        for role, files in (inp.get("files") or {}).items():
            for name, sha in files.items():
                lines.append(f"{html.escape(role)}: {html.escape(name)} <code>{html.escape(str(sha or 'unavailable'))}"
                             "</code>")
        rows.append((f"inputs {html.escape(rid)}", "<br>".join(lines)))
    table = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows)
    payload = json.dumps(prov, sort_keys=True, default=str).replace("</", "<\\/")
    return (f'<details class="kz-provenance" id="provenance"><summary>Provenance: commit '
            f'<code>{html.escape(commit_text)}</code> · library <code>{html.escape(_short(prov.get("library_hash")))}'
            f'</code> · generated {html.escape(str(prov.get("generated_utc")))}</summary>'
            f'<table>{table}</table></details>\n'
            f'<script type="application/json" id="kaizenlap-provenance">{payload}</script>\n')


__all__ = ["git_state", "file_sha256", "race_inputs", "for_task", "complete", "public_parameters",
           "redaction_roots", "redact_text", "redact_value", "redact_notebook", "render", "now_utc"]
