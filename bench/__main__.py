"""Run every benchmark and print one Markdown table (the README keeps the latest)."""

from __future__ import annotations

import platform
import sys

from bench import after_meeting_bench, cine_bench, deid_bench, ingest_bench, meeting_bench
from bench.common import HEADER

BENCHMARKS = (ingest_bench, cine_bench, deid_bench, meeting_bench, after_meeting_bench)


def main() -> int:
    print(f"Python {platform.python_version()} on {platform.machine()}, {sys.platform}")
    print(HEADER)
    for module in BENCHMARKS:
        for result in module.run():
            print(result.row(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
