"""The house's layers (docs/DESIGN.md, "Layers") are enforced: import-linter's contract in pyproject.toml, and
no project import hidden inside a function (the way a cycle used to be kept alive)."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Imports inside a function that are not about layering: an optional backend loaded only when asked for, and
# the package face's names loaded on first use (PEP 562), so a low layer's import stays light.
ALLOWED_LATE = {("lib/kaizenlap/store/__init__.py", "kaizenlap.store.firestore"),
                ("lib/kaizenlap/__init__.py", "kaizenlap")}


def _late_project_imports() -> set[tuple[str, str]]:
    found = set()
    for path in [*sorted((ROOT / "lib" / "kaizenlap").rglob("*.py")), *sorted((ROOT / "serve").glob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(".")[0] in
                                                         ("kaizenlap", "serve")):
                    found.add((path.relative_to(ROOT).as_posix(), "." * node.level + (node.module or "")))
                elif isinstance(node, ast.Import):
                    found.update((path.relative_to(ROOT).as_posix(), a.name) for a in node.names
                                 if a.name.split(".")[0] in ("kaizenlap", "serve"))
    return found


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_no_project_import_inside_a_function():
    assert _late_project_imports() - ALLOWED_LATE == set()


def test_the_contract_names_every_top_level_package():
    """A new package must be placed in a layer (else the contract says nothing about it)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    layers = text.split("[[tool.importlinter.contracts]]", 1)[1]
    pkg = ROOT / "lib" / "kaizenlap"
    names = {p.stem for p in pkg.glob("*.py") if p.stem != "__init__"} | \
        {p.name for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    missing = sorted(n for n in names if f"kaizenlap.{n}\"" not in layers and f"kaizenlap.{n} " not in layers)
    assert missing == []


def test_configuration_is_read_in_one_place():
    """Every environment variable is declared in kaizenlap.core.environment; nothing else reads os.environ for
    configuration (process plumbing — a kernel's PYTHONPATH/JUPYTER_PATH/TMPDIR, restoring a kernel's
    environment — is not configuration)."""
    plumbing = {"lib/kaizenlap/pipeline/kernels.py", "lib/kaizenlap/pipeline/kernel_side.py",
                "lib/kaizenlap/store/emulator.py", "lib/kaizenlap/core/environment.py"}
    readers = set()
    for path in [*(ROOT / "lib" / "kaizenlap").rglob("*.py"), *(ROOT / "serve").rglob("*.py")]:
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        if ("os.environ" in text or "os.getenv" in text) and rel not in plumbing:
            readers.add(rel)
    assert readers == set()


def test_settings_declare_only_known_variables():
    from kaizenlap.core.environment import VARIABLES
    from kaizenlap.core.settings import Settings
    aliases = {c for f in Settings.model_fields.values() for c in f.validation_alias.choices}
    assert aliases <= set(VARIABLES)
