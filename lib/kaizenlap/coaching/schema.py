"""Write the coaching document's JSON Schema: ``python -m kaizenlap.coaching.schema`` (a test checks the
committed serve/schemas/coaching.schema.json equals the model's export)."""
from __future__ import annotations

from kaizenlap.coaching.model import SCHEMA_PATH, schema_text


def main() -> None:
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(schema_text(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")


if __name__ == "__main__":
    main()
