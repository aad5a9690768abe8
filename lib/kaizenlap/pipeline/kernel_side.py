"""Code that runs *inside* a warm kernel (imported there by :class:`kaizenlap.pipeline.kernels.WarmKernel`).

:func:`warm_up` once per kernel: ``%matplotlib inline``, the heavy imports (:data:`WARM_IMPORTS`), then a
snapshot of the state a notebook may change. :func:`reset` before every notebook: the user namespace is
emptied (``InteractiveShell.reset``) and the execution count set back to 1 (the executed notebook numbers
its cells as a fresh kernel would); open figures are closed; matplotlib rc, pandas options, numpy print
and error options, warnings filters, ``sys.path``, ``os.environ`` and the working folder are put back as
they were after :func:`warm_up`. ``%matplotlib inline`` stays in force (its post-execute hook is the
shell's, not the namespace's). What is shared between notebooks: imported modules and their module-level
caches (e.g. ``params`` files read once, matplotlib's font cache).
"""
from __future__ import annotations

import importlib
import os
import sys
import warnings

WARM_IMPORTS = ("numpy", "pandas", "scipy.stats", "statsmodels.api", "matplotlib.pyplot", "seaborn",
                "IPython.display", "kaizenlap.lab", "kaizenlap.plots", "kaizenlap.tasks.record",
                "kaizenlap.engines.composite", "kaizenlap.engines.sections", "kaizenlap.engines.weather",
                "kaizenlap.engines.pattern", "kaizenlap.engines.telemetry", "kaizenlap.store", "kaizenlap.store.sqlite", "kaizenlap.ingest")

_STATE: dict = {}


def _shell():
    from IPython import get_ipython
    return get_ipython()


def warm_up() -> None:
    ip = _shell()
    if ip is not None:
        ip.run_line_magic("matplotlib", "inline")
    for name in WARM_IMPORTS:
        try:
            importlib.import_module(name)
        except Exception:  # an optional import missing only costs time later
            pass
    _snapshot()
    import gc
    gc.collect()
    gc.freeze()        # the imported modules' objects: never scanned again by the collections in reset()


def _snapshot() -> None:
    import matplotlib as mpl
    import numpy as np
    import pandas as pd
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _STATE["rc"] = dict(mpl.rcParams)
    _STATE["pd"] = {f"display.{o}": pd.get_option(f"display.{o}") for o in _pd_display_options(pd)}
    _STATE["np_print"] = np.get_printoptions()
    _STATE["np_err"] = np.geterr()
    _STATE["warnings"] = list(warnings.filters)
    _STATE["path"] = list(sys.path)
    _STATE["environ"] = dict(os.environ)
    _STATE["cwd"] = os.getcwd()


def _pd_display_options(pd) -> list[str]:
    out = []
    for name in dir(pd.options.display):
        try:
            pd.get_option(f"display.{name}")
        except Exception:
            continue
        out.append(name)
    return out


def reset() -> None:
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    ip = _shell()
    if ip is not None:
        ip.reset(new_session=True)      # a new history session: the execution count starts at 1 again
    plt.close("all")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mpl.rcParams.update(_STATE["rc"])
        for k, v in _STATE["pd"].items():
            try:
                pd.set_option(k, v)
            except Exception:
                pass
    np.set_printoptions(**_STATE["np_print"])
    np.seterr(**_STATE["np_err"])
    warnings.filters[:] = _STATE["warnings"]
    warnings._filters_mutated()
    sys.path[:] = _STATE["path"]
    if dict(os.environ) != _STATE["environ"]:
        os.environ.clear()
        os.environ.update(_STATE["environ"])
    os.chdir(_STATE["cwd"])
    import gc
    gc.collect()
