#!/usr/bin/env python3
"""Write the API's OpenAPI document to web/openapi.json (the web app's typed client is generated from it;
tests/test_web_serve.py checks it against the live schema)."""
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "lib"))
from serve.app import create_app  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    doc = create_app(f"sqlite:///{tmp}/none.db").openapi()
(ROOT / "web" / "openapi.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
print("wrote web/openapi.json; `make web` regenerates web/src/api/schema.d.ts from it")
