"""The fleet section of docs/benchmarks.md (tests/bench/fleet.py, report.py): pure rendering and splicing."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import fleet  # noqa: E402  pylint: disable=wrong-import-position
import report  # noqa: E402  pylint: disable=wrong-import-position


def run(k, tool, phase, seconds, cpu, requests, **extra):
    res = {"clusters": k, "tool": tool, "phase": phase, "seconds": seconds, "cpu_s": cpu,
           "requests": {"total": requests}, "verified": True}
    res.update(extra)
    res["per_cluster"] = fleet.per_cluster(res, k)
    return res


def doc():
    runs = []
    for k, scale in ((1, 1.0), (3, 2.0)):
        runs += [run(k, "ours", "setup", 4.0 * scale, 4.0 * k, 102 * k), run(k, "ours", "noop", 3.0 * scale, 3.0 * k, 6 * k),
                 run(k, "theirs", "setup", 40.0 * scale, 40.0 * k, 200 * k, extrapolated=True),
                 run(k, "theirs", "noop", 30.0 * scale, 30.0 * k, 150 * k, extrapolated=True, verified=False)]
    return {"cluster_counts": [1, 3], "runs": runs, "n": 50, "theirs_sample": 5, "environment": "private",
            "machine": {"date": "2026-12-06 19:20 UTC", "versions": {}}, "total_s": 99}


def test_per_cluster_divides_by_the_fleet_size():
    assert fleet.per_cluster({"seconds": 9.0, "cpu_s": 7.5, "requests": {"total": 306}}, 3) == {
        "seconds": 3.0, "cpu_s": 2.5, "requests": 102.0}


def test_table_puts_ours_and_theirs_side_by_side():
    rows = fleet.table(doc())[2:]
    assert len(rows) == 4
    cells = [c.strip() for c in rows[2].strip("|").split("|")]
    assert cells == ["3 (3)", "first setup", "8.00 s", "80.0 s ‡", "**10.0×**", "4.00 s / 40.00 s", "102 / 200",
                     "2.00× / 2.00×"]
    assert "‡ ✗" in rows[3] and rows[1].split("|")[2].strip() == "no-op rerun"


def test_section_is_replaced_in_place_and_kept_by_the_main_report():
    sec = fleet.section(doc())
    assert sec.startswith(report.FLEET_START) and sec.endswith(report.FLEET_END)
    page = report.put_section("# Benchmarks\n\nbody\n", sec)
    assert page.startswith("# Benchmarks\n\nbody\n\n" + report.FLEET_START)
    newer = sec.replace("**10.0×**", "**11.0×**")
    again = report.put_section(page + "tail\n", newer)
    assert again.count(report.FLEET_START) == 1 and "**11.0×**" in again and again.endswith("tail\n")
    regenerated = report.keep_section(again, "# Benchmarks\n\nnew body\n")
    assert "new body" in regenerated and "**11.0×**" in regenerated and "\nbody\n" not in regenerated
    assert report.keep_section("# old page without a fleet section", "new") == "new"
