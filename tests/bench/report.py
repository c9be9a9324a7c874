"""Render the benchmark results (tests/bench/bench.py) as docs/benchmarks.md and a console table."""

from __future__ import annotations

import json
import sys
from typing import Any, Dict


def console_table(doc: Dict[str, Any]) -> str:
    lines = []
    for r in doc["runs"]:
        lines.append("N=%-5s %-10s %-6s %-6s %8.2fs %6d req %s peak %s MiB" % (
            r["n"], r["scenario"], r["tool"], r["phase"], r["seconds"], r["requests"]["total"],
            r["requests"]["by_verb"], r["peak_rss_tree_mb"]))
    return "\n".join(lines)


def render(doc: Dict[str, Any]) -> str:
    return "```\n" + console_table(doc) + "\n```\n"


if __name__ == "__main__":
    d = json.load(open(sys.argv[1]))
    print(render(d))
