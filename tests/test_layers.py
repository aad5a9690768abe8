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
    # the benches and scripts read a setting through kaizenlap.core.environment.env too (setting a variable
    # for a child process, or passing the environment on whole, is not reading one)
    import re
    read = re.compile(r"os\.getenv\(|os\.environ\.get\(|os\.environ\[[^]]+\](?!\s*=)")
    tools = {p.relative_to(ROOT).as_posix() for p in [*(ROOT / "bench").glob("*.py"), *(ROOT / "scripts").glob("*.py"),
                                                     ROOT / "run_pipeline.py"] if read.search(p.read_text("utf-8"))}
    assert tools == set()


def test_settings_declare_only_known_variables():
    from kaizenlap.core.environment import VARIABLES
    from kaizenlap.core.settings import Settings
    aliases = {c for f in Settings.model_fields.values() for c in f.validation_alias.choices}
    assert aliases <= set(VARIABLES)


def _contract_layers() -> list[list[str]]:
    import tomllib
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [layers] = [c["layers"] for c in cfg["tool"]["importlinter"]["contracts"] if "containers" not in c]
    return [[name.strip() for name in layer.split("|")] for layer in layers]


def test_the_design_picture_and_paragraphs_are_the_contract():
    """docs/DESIGN.md opens with the layer picture and one paragraph per layer: the same layers, in the same
    order and with the same members, as the import-linter contract (a picture that drifts from the contract
    tells the next engineer a wrong house)."""
    import re
    text = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    assert text.startswith("# KaizenLap design\n\n## Layers\n\n```\n")
    picture = text.split("```\n", 2)[1]
    drawn = [names for line in picture.splitlines()
             if (names := re.findall(r"(?<![\w.])(serve|kaizenlap\.\w+)(?=\s|$)", line))]
    assert drawn == _contract_layers()
    paragraphs = {frozenset(p.split(" | ")) for p in re.findall(r"^- \*\*([\w |]+)\*\* — ", text, flags=re.M)}
    for layer in _contract_layers():
        assert frozenset(n.removeprefix("kaizenlap.") for n in layer) in paragraphs, layer


def _project_sources() -> list[Path]:
    return [*sorted((ROOT / "lib" / "kaizenlap").rglob("*.py")), *sorted((ROOT / "serve").rglob("*.py"))]


def test_files_are_replaced_atomically_in_one_place():
    """One atomic write (core/atomic.py): no other module swaps a temporary file in by hand. The one other
    os.replace is the reports' ``latest`` symlink (a link, not a file's bytes)."""
    swaps = {p.relative_to(ROOT).as_posix() for p in _project_sources() if "os.replace(" in p.read_text("utf-8")}
    assert swaps == {"lib/kaizenlap/core/atomic.py", "lib/kaizenlap/pipeline/scheduler.py"}


def test_the_flag_vocabulary_is_imported_not_copied():
    """A module that needs the lap flags imports kaizenlap.ingest.flags.FLAG_CODES: none spells three or more
    of them itself (a copy silently drops a flag added later)."""
    from kaizenlap.ingest.flags import FLAG_CODES
    copies = {}
    for path in _project_sources():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "lib/kaizenlap/ingest/flags.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Dict, ast.Tuple, ast.List, ast.Set)):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                named = {k.value for k in items if isinstance(k, ast.Constant) and k.value in FLAG_CODES}
                if len(named) >= 3:
                    copies.setdefault(rel, sorted(named))
    assert copies == {}
