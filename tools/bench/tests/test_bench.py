# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Self-tests of the benchmark harness (not part of `make test`): .venv/bin/pytest tools/bench/tests -q"""

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, HERE)

import procmon  # noqa: E402
import report  # noqa: E402
import run  # noqa: E402


def _row(approach, n, phase, wall, cpu=1.0, changed=0, rss=100.0, status="ok"):
    return run.row(approach, n, phase, status=status, wall_s=wall, cpu_s=cpu, changed=changed, peak_rss_mib=rss)


def test_ratios_targets_and_extrapolation():
    rows = [
        _row("collection", 100, "full", 20.0, cpu=10.0),
        _row("collection", 100, "rerun", 5.0, cpu=4.0),
        _row("baseline", 100, "full", 300.0, cpu=200.0),
        _row("baseline", 100, "rerun", 40.0, cpu=50.0),
        _row("collection", 1000, "full", 250.0, rss=900.0),
        _row("collection", 1000, "rerun", 95.0, changed=3, rss=2100.0),
    ]
    rows += report.not_run_rows(rows, "baseline", 1000, ["full", "rerun"])
    skipped = [r for r in rows if r["status"] == "not run"]
    assert skipped[0]["extrapolated_wall_s"] == 3000.0
    assert "~50 min" in skipped[0]["note"]
    data = report.build({"versions": {}}, {}, rows)
    by = {(r["n"], r["phase"]): r for r in data["ratios"]}
    assert by[(100, "full")]["wall_ratio"] == 15.0
    assert by[(100, "full")]["cpu_ratio"] == 20.0
    assert by[(100, "rerun")]["wall_ratio"] == 8.0
    assert by[(1000, "full")]["extrapolated"] is True
    result = {t["id"]: t["result"] for t in data["targets"]}
    assert result == {
        "full-1000": "pass",
        "rerun-1000": "FAIL",
        "rerun-100": "pass",
        "ratio-full-100": "pass",
        "ratio-rerun-100": "FAIL",
        "memory-1000": "FAIL",
        "idempotent": "FAIL",
    }


def test_tables_render():
    rows = [_row("collection", 10, "full", 2.0), run.row("collection", 10, "verify", status="n/a", note="missing")]
    info = {
        "date": "d",
        "cpu_model": "cpu",
        "cores": 2,
        "memory_gib": 1,
        "os": "os",
        "kernel": "k",
        "git_commit": "c",
        "versions": {"ansible-core": "2.18", "python": "3.11", "mosquitto": "2.0.21"},
    }
    settings = {
        "command": "tools/bench.sh",
        "forks": 5,
        "strategy": "linear",
        "batch_size": "x",
        "broker": "external",
        "broker_endpoint": "127.0.0.1:1",
        "report_interval_s": 30,
        "baseline_max": 100,
        "total_minutes": 1,
    }
    data = report.build(info, settings, rows)
    text = report.text_table(data)
    assert "n/a: missing" in text and "200.0" in text
    md = report.markdown(data)
    assert md.startswith("# Fleet benchmark") and "| collection | full | 10 | ok |" in md
    json.dumps(data)


def test_tree_sampler_sees_children():
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(64 << 20); time.sleep(3)"])
    try:
        sampler = procmon.TreeMemorySampler(os.getpid(), interval=0.1).start()
        time.sleep(1.5)
        sampler.stop()
        assert child.pid in procmon.descendants(os.getpid())
        assert sampler.peak_rss > 64 << 20
        assert sampler.peak_pss > 32 << 20
        assert sampler.peak_procs >= 2
        assert procmon.cpu_seconds(os.getpid()) > 0
    finally:
        child.kill()
        child.wait()
