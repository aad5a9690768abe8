#!/usr/bin/env python3
"""KaizenLap command line. ``python run_pipeline.py --help`` lists the subcommands."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))

from kaizenlap.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
