"""Executing one task's notebook: the project's Jupyter kernel, warm kernels, HTML export.

Warm mode (the default): each worker (a process of the local pool, or a thread of a Dask worker) keeps one
long-lived kernel, started once with the heavy imports done (:data:`kaizenlap.pipeline.kernel_side.WARM_IMPORTS`),
and executes its notebooks in it one after another through papermill (the engine ``kaizenlap-warm``, a
papermill nbclient engine that is handed the running kernel instead of starting one), so an executed
notebook keeps papermill's metadata, the ``parameters``/``injected-parameters`` cells and per-cell
durations. Before each notebook the kernel is reset (:func:`kaizenlap.pipeline.kernel_side.reset`:
user namespace, execution count, figures, matplotlib rc, pandas/numpy options, warnings filters,
``sys.path``, environment, working folder); ``%matplotlib inline`` stays in force. A kernel that dies,
hangs past the cell timeout or grows past the memory limit (``params/engines.yaml`` ``pipeline``) is
replaced; its task fails with the cell that was running named.

Fresh mode (``--fresh-kernels``): papermill starts and stops a kernel per notebook, as before.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path

from kaizenlap.core.atomic import write_text
from kaizenlap.core.paths import repo_root
from kaizenlap.pipeline import provenance as provenance_mod
from kaizenlap.tasks.model import TaskError

KERNEL_NAME = "python3"
ENGINE_NAME = "kaizenlap-warm"


# ------------------------------------------------------------------------------------------ kernelspec

def ensure_kernel() -> Path:
    """Make the Jupyter kernel ``python3`` mean *this* Python (``sys.executable``), whatever other
    ``python3`` kernelspecs the user has: a kernelspec is written to a private folder put first on
    ``$JUPYTER_PATH`` (inherited by the worker processes and by papermill's kernel manager). The kernel
    also gets this package's ``lib/`` on ``PYTHONPATH``, so it imports the same ``kaizenlap`` even without
    an install. Returns the kernelspec folder.
    """
    lib = str(Path(__file__).resolve().parents[2])
    pythonpath = os.pathsep.join(p for p in (lib, os.environ.get("PYTHONPATH", "")) if p)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (KaizenLap)", "language": "python", "env": {"PYTHONPATH": pythonpath},
            "metadata": {"debugger": True}}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    candidates = [repo_root() / ".kaizenlap" / "jupyter" / key, Path(os.environ.get("TMPDIR", "/tmp")) /
                  f"kaizenlap-jupyter-{os.getuid() if hasattr(os, 'getuid') else 0}-{key}"]
    for base in candidates:
        kdir = base / "kernels" / KERNEL_NAME
        try:
            kdir.mkdir(parents=True, exist_ok=True)
            target = kdir / "kernel.json"
            text = json.dumps(spec, indent=1)
            if not target.exists() or target.read_text() != text:
                write_text(target, text)
        except OSError:
            continue
        paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p and p != str(base)]
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(base), *paths])
        return kdir
    raise OSError("could not write a Jupyter kernelspec for this Python")


# ------------------------------------------------------------------------------------------ orphans

def die_with_parent() -> None:
    """Make this process die when its parent does, even by ``kill -9``: ``PR_SET_PDEATHSIG`` (Linux, via
    ctypes) and, everywhere, a watchdog thread that exits once the parent pid changes. The kernels this
    process starts then die too: ipykernel polls its own parent (``JPY_PARENT_PID``) and exits."""
    ppid = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)       # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != ppid:                                   # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != ppid:
                os._exit(1)
    threading.Thread(target=watch, name="kaizenlap-parent-watchdog", daemon=True).start()


# ------------------------------------------------------------------------------------------ HTML

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "kaizenlap"          # templates/kaizenlap: JupyterLab's cell markup, a small stylesheet, no CDN


@functools.lru_cache(maxsize=1)
def _exporter():
    from nbconvert import HTMLExporter
    from traitlets.config import Config
    # No pygments stylesheet either: the code cells are not shown.
    config = Config({"CSSHTMLHeaderPreprocessor": {"enabled": False}})
    return HTMLExporter(config=config, template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES)],
                        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                        mathjax_url="", require_js_url="")


def export_html(ipynb: Path, target: Path, nb=None, provenance: dict | None = None) -> Path:
    """HTML of an executed notebook, code cells hidden (markdown, tables, figures, errors shown), in the
    slim template ``templates/kaizenlap`` (no script from a CDN). The page opens with its provenance block
    (:mod:`kaizenlap.pipeline.provenance`): ``provenance`` as the scheduler built it
    (:func:`kaizenlap.pipeline.provenance.for_task`), completed with what is missing (commit, library
    fingerprint, the parameters papermill recorded, the ``params/`` sections of the task named by the
    target's stem, the generation time). Absolute paths of this machine are redacted from the page
    (:func:`kaizenlap.pipeline.provenance.redact_notebook`). One exporter per process (its templates are
    loaded once)."""
    import nbformat
    nb = nb if nb is not None else nbformat.read(str(ipynb), as_version=4)
    recorded = dict((nb.get("metadata", {}).get("papermill", {}) or {}).get("parameters") or {})
    roots = provenance_mod.redaction_roots(recorded)
    prov = provenance_mod.complete(provenance, nb, task_name=Path(target).stem)
    prov = provenance_mod.redact_value(prov, roots)
    body, _ = _exporter().from_notebook_node(provenance_mod.redact_notebook(nb, roots),
                                             resources={"kaizenlap_provenance": provenance_mod.render(prov)})
    return write_text(target, body)


# ------------------------------------------------------------------------------------------ warm kernels

class KernelLost(Exception):
    """The kernel died, hung past the cell timeout or grew past the memory limit during a notebook."""

    def __init__(self, reason: str, ename: str, cell_index: int | None, exec_count: int | None, source: str):
        super().__init__(reason)
        self.ename, self.cell_index, self.exec_count, self.source = ename, cell_index, exec_count, source


def _run_sync(coro_fn):
    from jupyter_core.utils import run_sync
    return run_sync(coro_fn)


class WarmKernel:
    """One long-lived kernel (an ``AsyncKernelManager`` and its client), reset between notebooks."""

    def __init__(self, cwd: str, memory_limit_mb: float | None = None, startup_timeout: float = 120) -> None:
        from jupyter_client.manager import AsyncKernelManager
        self.cwd, self.memory_limit_mb = cwd, memory_limit_mb
        self.km = AsyncKernelManager(kernel_name=KERNEL_NAME)
        _run_sync(self.km.start_kernel)(cwd=cwd)
        self.kc = self.km.client()
        self.kc.start_channels()
        _run_sync(self.kc.wait_for_ready)(timeout=startup_timeout)
        self.notebooks = 0
        self.memory_exceeded = False
        self._code("import kaizenlap.pipeline.kernel_side as __kz; __kz.warm_up(); del __kz", timeout=startup_timeout)

    @property
    def pid(self) -> int | None:
        proc = getattr(getattr(self.km, "provisioner", None), "process", None)
        return getattr(proc, "pid", None)

    def rss_mb(self) -> float | None:
        try:
            import psutil
            return psutil.Process(self.pid).memory_info().rss / 2**20
        except Exception:
            return None

    def alive(self) -> bool:
        try:
            return bool(_run_sync(self.km.is_alive)())
        except Exception:
            return False

    def _code(self, code: str, timeout: float = 60) -> None:
        """Run ``code`` silently (no history, no execution count); raise if it fails."""
        errors: list[str] = []

        def hook(msg):
            if msg.get("msg_type") == "error":
                errors.append(f"{msg['content'].get('ename')}: {msg['content'].get('evalue')}")
        reply = _run_sync(self.kc.execute_interactive)(code, silent=True, store_history=False, timeout=timeout,
                                                       output_hook=hook, allow_stdin=False)
        if reply["content"].get("status") != "ok" or errors:
            raise RuntimeError(f"kernel setup code failed: {errors or reply['content']}")

    def reset(self) -> None:
        self._code("import kaizenlap.pipeline.kernel_side as __kz; __kz.reset()")

    def execute(self, spec: dict, out_nb: Path) -> None:
        """Execute ``spec['notebook']`` into ``out_nb`` with papermill in this kernel (after a reset).
        Raises papermill's ``PapermillExecutionError`` for a failing cell, :class:`KernelLost` when the
        kernel is gone or stuck (the caller replaces it)."""
        import papermill as pm
        self.reset()
        self.memory_exceeded = False
        stop = threading.Event()
        watcher = None
        if self.memory_limit_mb:
            watcher = threading.Thread(target=self._watch_memory, args=(stop,), daemon=True)
            watcher.start()
        try:
            pm.execute_notebook(spec["notebook"], str(out_nb), parameters=spec["parameters"],
                                kernel_name=KERNEL_NAME, engine_name=ENGINE_NAME, warm_kernel=self,
                                progress_bar=False, log_output=False, cwd=spec["cwd"],
                                execution_timeout=spec["timeout"], request_save_on_cell_execute=False)
        finally:
            stop.set()
            if watcher is not None:
                watcher.join()
            self.notebooks += 1

    def _watch_memory(self, stop: threading.Event) -> None:
        while not stop.wait(0.25):
            rss = self.rss_mb()
            if rss is not None and rss > self.memory_limit_mb:
                self.memory_exceeded = True
                self.kill()
                return

    def over_memory(self) -> bool:
        rss = self.rss_mb()
        return bool(self.memory_limit_mb and rss is not None and rss > self.memory_limit_mb)

    def kill(self) -> None:
        try:
            import signal
            if self.pid:
                os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass

    def shutdown(self) -> None:
        try:
            self.kc.stop_channels()
        except Exception:
            pass
        try:
            _run_sync(self.km.shutdown_kernel)(now=True)
        except Exception:
            self.kill()


def _running_cell(nb) -> tuple[int | None, int | None, str]:
    """The cell that was executing when execution stopped: the last one papermill started (it marks
    the later ones ``pending``), as (index among the cells, execution count, source)."""
    last = None
    for i, cell in enumerate(getattr(nb, "cells", []) or []):
        if cell.get("cell_type") == "code" and \
                cell.get("metadata", {}).get("papermill", {}).get("status") not in (None, "pending"):
            last = (i, cell.get("execution_count"), "".join(cell.get("source", "")))
    return last or (None, None, "")


def _register_engine() -> None:
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.utils import merge_kwargs, remove_args

    class WarmKernelEngine(NBClientEngine):
        """papermill's nbclient engine, executing in a running :class:`WarmKernel`."""

        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            from nbclient.exceptions import CellTimeoutError, DeadKernelError
            from papermill.engines import logger
            kernel: WarmKernel = kwargs.pop("warm_kernel")
            kwargs = remove_args(["input_path", "timeout", "startup_timeout"], **kwargs)
            final = merge_kwargs(kwargs, timeout=execution_timeout, startup_timeout=start_timeout,
                                 kernel_name=kernel_name, log=logger, log_output=log_output, stdout_file=stdout_file,
                                 stderr_file=stderr_file)
            client = PapermillNotebookClient(nb_man, km=kernel.km, **final)
            client.kc = kernel.kc
            try:
                return client.execute()
            except (DeadKernelError, CellTimeoutError, RuntimeError, TimeoutError) as exc:
                index, count, source = _running_cell(nb_man.nb)
                if kernel.memory_exceeded:
                    raise KernelLost(f"the kernel grew past the memory limit of {kernel.memory_limit_mb:.0f} MB "
                                     "and was stopped", "KernelMemoryLimit", index, count, source) from exc
                if isinstance(exc, (CellTimeoutError, TimeoutError)):
                    raise KernelLost(f"a cell ran past the timeout of {execution_timeout} s: {exc}",
                                     "CellTimeoutError", index, count, source) from exc
                if isinstance(exc, DeadKernelError) or not kernel.alive():
                    raise KernelLost(f"the kernel died: {exc}", "DeadKernelError", index, count, source) from exc
                raise

    papermill_engines.register(ENGINE_NAME, WarmKernelEngine)


# ------------------------------------------------------------------------------------------ worker side

_local = threading.local()
_setup_lock = threading.Lock()
_setup_done = False


def _setup_process() -> None:
    global _setup_done
    with _setup_lock:
        if not _setup_done:
            ensure_kernel()
            _register_engine()
            _setup_done = True


def _kernel(spec: dict) -> WarmKernel:
    k = getattr(_local, "kernel", None)
    if k is not None and not k.alive():
        k.shutdown()
        k = None
    if k is None:
        k = WarmKernel(spec["cwd"], spec.get("memory_limit_mb"), spec.get("startup_timeout", 120))
        _local.kernel = k
        _local.kernels_started = getattr(_local, "kernels_started", 0) + 1
    k.memory_limit_mb = spec.get("memory_limit_mb")
    return k


def replace_kernel(reason: str = "") -> None:
    """Stop this worker's warm kernel; the next task starts a new one."""
    k = getattr(_local, "kernel", None)
    _local.kernel = None
    if k is not None:
        k.shutdown()


def shutdown_kernels() -> None:
    replace_kernel()


def execute_task(spec: dict) -> dict:
    """Run one task's notebook (warm kernel unless ``spec['fresh']``), export its HTML. Never raises: the
    result has ``status``, ``duration_s``, ``files``, ``error`` (a :class:`TaskError` dict or None) and
    ``worker`` (pid, kernel pid, notebooks run by that kernel)."""
    from papermill.exceptions import PapermillExecutionError
    t0 = time.perf_counter()
    _setup_process()
    out_dir = Path(spec["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    out_nb = out_dir / f"{spec['name']}.ipynb"
    error: TaskError | None = None
    worker = {"pid": os.getpid(), "mode": "fresh" if spec.get("fresh") else "warm"}
    try:
        if spec.get("fresh"):
            import papermill as pm
            pm.execute_notebook(spec["notebook"], str(out_nb), parameters=spec["parameters"], kernel_name=KERNEL_NAME,
                                progress_bar=False, log_output=False, cwd=spec["cwd"],
                                execution_timeout=spec["timeout"])
        else:
            kernel = _kernel(spec)
            worker.update(kernel_pid=kernel.pid, kernel_notebook=kernel.notebooks + 1)
            try:
                kernel.execute(spec, out_nb)
            finally:
                if not kernel.alive() or kernel.over_memory():
                    worker["kernel_replaced"] = True
                    replace_kernel()
    except PapermillExecutionError as exc:
        error = TaskError(cell_index=exc.cell_index, exec_count=exc.exec_count, ename=exc.ename,
                          evalue=str(exc.evalue), source=exc.source or "")
    except KernelLost as exc:
        replace_kernel()
        worker["kernel_replaced"] = True
        error = TaskError(cell_index=exc.cell_index, exec_count=exc.exec_count, ename=exc.ename, evalue=str(exc),
                          source=exc.source)
    except BaseException as exc:  # kernel start failure, bad notebook: a failed task, not a failed run
        if not spec.get("fresh"):
            replace_kernel()
            worker["kernel_replaced"] = True
        error = TaskError.from_exception(exc)
    files = {}
    if out_nb.exists():
        files["ipynb"] = out_nb.name
        if spec["html"]:
            try:
                export_html(out_nb, out_nb.with_suffix(".html"), provenance=spec.get("provenance"))
                files["html"] = out_nb.with_suffix(".html").name
            except Exception as exc:  # the executed notebook is still there
                error = error or TaskError.from_exception(exc, ename=f"HTML export: {type(exc).__name__}")
    doc = out_dir / f"{spec['name']}.json"
    if doc.exists():
        files["json"] = doc.name
    elif error is None:
        error = TaskError(ename="MissingDocument", evalue=f"the notebook ran but wrote no {doc.name}")
    return {"status": "failed" if error else "ok", "duration_s": round(time.perf_counter() - t0, 3),
            "files": files, "error": error, "worker": worker}


__all__ = ["ensure_kernel", "export_html", "execute_task", "die_with_parent", "WarmKernel", "KernelLost",
           "KERNEL_NAME", "ENGINE_NAME"]
