"""Every formula reference in SCHEMA.md points at a section of docs/DATA_REFERENCE.md that exists and
defines the field it is cited for."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sections(text: str) -> dict[str, str]:
    heads = [(m.group(1), m.start()) for m in re.finditer(r"^#{2,4} (\d+(?:\.\d+)*)[. ]", text, re.M)]
    out = {}
    for i, (num, start) in enumerate(heads):
        end = heads[i + 1][1] if i + 1 < len(heads) else len(text)
        out[num] = text[start:end]
    return out


def test_schema_formula_references_exist_in_data_reference():
    schema = (ROOT / "SCHEMA.md").read_text(encoding="utf-8")
    ref = _sections((ROOT / "docs" / "DATA_REFERENCE.md").read_text(encoding="utf-8"))
    cited = 0
    for line in schema.splitlines():
        for num in re.findall(r"DATA_REFERENCE\.md §(\d+(?:\.\d+)*)", line):
            assert num in ref, (num, line)
            m = re.match(r"\|\s*`([a-z_0-9]+)`", line)
            if m:                              # a table row: the field must be defined in that section
                assert m.group(1) in ref[num], (m.group(1), num)
                cited += 1
    assert cited >= 8


def test_section_ranking_rule_is_the_same_everywhere():
    """The code ranks by the lower bound of section_loss; every document says so."""
    ref = _sections((ROOT / "docs" / "DATA_REFERENCE.md").read_text(encoding="utf-8"))["10.2"]
    assert "lower bound of `section_loss`" in ref and "section_loss     =" in ref
    design = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    assert "lower bound of the section loss" in design and "lower bound of the loss |" not in design
    schema = (ROOT / "SCHEMA.md").read_text(encoding="utf-8")
    assert "ranked by the lower bound of the loss." not in schema
    src = (ROOT / "lib" / "kaizenlap" / "engines" / "sections.py").read_text(encoding="utf-8")
    assert 'sections.sort(key=lambda s: s["section_loss"]["lo"], reverse=True)' in src
