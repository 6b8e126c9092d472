# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark results: ratios, targets, extrapolation, the stdout table and the Markdown report."""

TARGETS = (
    # (id, description, approach, n, phase, metric, op, limit)
    ("full-1000", "1000 devices: first full provisioning <= 5 min", "collection", 1000, "full", "wall_s", "<=", 300),
    ("rerun-1000", "1000 devices: idempotent re-run <= 90 s", "collection", 1000, "rerun", "wall_s", "<=", 90),
    ("rerun-100", "100 devices: idempotent re-run <= 15 s", "collection", 100, "rerun", "wall_s", "<=", 15),
    ("ratio-full-100", "100 devices: full run >= 10x faster than the baseline", None, 100, "full", "ratio", ">=", 10),
    ("ratio-rerun-100", "100 devices: re-run >= 10x faster than the baseline", None, 100, "rerun", "ratio", ">=", 10),
    (
        "memory-1000",
        "1000 devices: controller memory < 2 GiB (peak RSS sum)",
        "collection",
        1000,
        None,
        "peak_rss_mib",
        "<",
        2048,
    ),  # fmt: skip
)


def _find(rows, approach, n, phase):
    for r in rows:
        if r["approach"] == approach and r["n"] == n and r["phase"] == phase:
            return r
    return None


def not_run_rows(rows, approach, n, phases):
    """Rows for an approach skipped at this N, with a linear extrapolation from its largest measured N."""
    out = []
    for phase in phases:
        measured = [r for r in rows if r["approach"] == approach and r["phase"] == phase and r["status"] == "ok"]
        entry = {"approach": approach, "n": n, "phase": phase, "status": "not run"}
        if measured:
            ref = max(measured, key=lambda r: r["n"])
            estimate = ref["wall_s"] / ref["n"] * n
            entry["extrapolated_wall_s"] = round(estimate, 1)
            entry["note"] = f"would take ~{estimate / 60:.0f} min (linear from N={ref['n']})"
        else:
            entry["note"] = "above --baseline-max"
        out.append(entry)
    return out


def ratios(rows):
    out = []
    for base in rows:
        if base["approach"] != "baseline":
            continue
        coll = _find(rows, "collection", base["n"], base["phase"])
        if not coll or coll["status"] != "ok" or not coll.get("wall_s"):
            continue
        if base["status"] == "ok":
            out.append(
                {
                    "n": base["n"],
                    "phase": base["phase"],
                    "wall_ratio": round(base["wall_s"] / coll["wall_s"], 1),
                    "cpu_ratio": round(base["cpu_s"] / coll["cpu_s"], 1) if coll.get("cpu_s") else None,
                    "extrapolated": False,
                }
            )
        elif base.get("extrapolated_wall_s"):
            out.append(
                {
                    "n": base["n"],
                    "phase": base["phase"],
                    "wall_ratio": round(base["extrapolated_wall_s"] / coll["wall_s"], 1),
                    "cpu_ratio": None,
                    "extrapolated": True,
                }
            )
    return out


def targets(rows, ratio_rows):
    out = []
    for tid, desc, approach, n, phase, metric, op, limit in TARGETS:
        value = None
        if metric == "ratio":
            match = [r for r in ratio_rows if r["n"] == n and r["phase"] == phase and not r["extrapolated"]]
            value = match[0]["wall_ratio"] if match else None
        elif phase is None:
            vals = [r.get(metric) for r in rows if r["approach"] == approach and r["n"] == n and r.get(metric)]
            value = max(vals) if vals else None
        else:
            r = _find(rows, approach, n, phase)
            value = r.get(metric) if r and r["status"] == "ok" else None
        if value is None:
            verdict = "not measured"
        else:
            ok = value <= limit if op == "<=" else value >= limit if op == ">=" else value < limit
            verdict = "pass" if ok else "FAIL"
        out.append({"id": tid, "target": desc, "value": value, "limit": f"{op} {limit}", "result": verdict})
    reruns = [r for r in rows if r["approach"] == "collection" and r["phase"] == "rerun" and r["status"] == "ok"]
    if reruns:
        bad = [r["n"] for r in reruns if r.get("changed") != 0]
        out.append(
            {
                "id": "idempotent",
                "target": "collection re-run reports changed=0 at every N",
                "value": "changed at N=" + ",".join(map(str, bad)) if bad else "changed=0",
                "limit": "0",
                "result": "FAIL" if bad else "pass",
            }
        )
    return out


def build(info, settings, rows):
    ratio_rows = ratios(rows)
    return {
        "machine": info,
        "settings": settings,
        "results": rows,
        "ratios": ratio_rows,
        "targets": targets(rows, ratio_rows),
    }


COLUMNS = (
    ("approach", "approach"),
    ("phase", "phase"),
    ("n", "N"),
    ("status", "status"),
    ("wall_s", "wall s"),
    ("cpu_s", "cpu s"),
    ("fleet_cpu_s", "fleet cpu s"),
    ("peak_rss_mib", "peak RSS MiB"),
    ("peak_pss_mib", "peak PSS MiB"),
    ("ms_per_device", "ms/device"),
    ("changed", "changed"),
)


KEYS = [key for key, header in COLUMNS]
HEADERS = [header for key, header in COLUMNS]


def _cell(r, key):
    value = r.get(key)
    if key == "status" and r.get("note"):
        return f"{value}: {r['note']}"
    return "-" if value is None else str(value)


RATIO_HEADER = ["N", "phase", "wall ratio", "cpu ratio"]


def _ratio_rows(data):
    """One row per (N, phase): baseline / collection, wall and CPU (``~`` where the baseline was extrapolated)."""
    return [
        [
            str(r["n"]),
            r["phase"],
            ("~" if r["extrapolated"] else "") + f"{r['wall_ratio']}x",
            "-" if r["cpu_ratio"] is None else f"{r['cpu_ratio']}x",
        ]
        for r in sorted(data["ratios"], key=lambda r: (r["n"], r["phase"]))
    ]


def _grid(headers, lines):
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*headers), fmt.format(*("-" * w for w in widths))]
    out.extend(fmt.format(*line) for line in lines)
    return "\n".join(out)


def _sorted(rows):
    order = {"full": 0, "rerun": 1, "rotate": 2, "verify": 3}
    return sorted(rows, key=lambda r: (r["n"], r["approach"] != "collection", order.get(r["phase"], 9)))


def text_table(data):
    rows = _sorted(data["results"])
    parts = ["", "Fleet benchmark  (" + _machine_line(data) + ")", ""]
    parts.append(_grid(HEADERS, [[_cell(r, k) for k in KEYS] for r in rows]))
    if data["ratios"]:
        parts += ["", "Baseline / collection (higher = the collection is faster):"]
        parts.append(_grid(RATIO_HEADER, _ratio_rows(data)))
    parts += ["", "Targets:"]
    parts.append(
        _grid(
            ["target", "value", "limit", "result"],
            [[t["target"], str(t["value"]), t["limit"], t["result"]] for t in data["targets"]],
        )
    )
    return "\n".join(parts) + "\n"


def _machine_line(data):
    m = data["machine"]
    v = m["versions"]
    return (
        f"{m['date']}, {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB, "
        f"ansible-core {v['ansible-core']}, python {v['python']}, mosquitto {v['mosquitto']}"
    )


def _md_table(headers, lines):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    out.extend("| " + " | ".join(line) + " |" for line in lines)
    return "\n".join(out)


def markdown(data):
    m, s = data["machine"], data["settings"]
    v = m["versions"]
    parts = [
        "# Fleet benchmark: latest results",
        "",
        f"Produced by `{s['command']}` (`make bench` runs `tools/bench.sh` with its defaults) on {m['date']}, "
        f"commit `{m['git_commit']}`.",
        "",
        f"- Machine: {m['cpu_model']}, {m['cores']} cores, {m['memory_gib']} GiB RAM, {m['os']}, kernel {m['kernel']}",
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- Settings: forks {s['forks']}, strategy {s['strategy']}, batch size {s['batch_size']}, "
        f"broker `{s['broker']}` at {s['broker_endpoint']}, emulator report interval {s['report_interval_s']} s, "
        f"baseline up to N={s['baseline_max']}; whole run {s['total_minutes']} min",
        "- wall/cpu: the `ansible-playbook` process and all its children (controller); fleet cpu: the emulator "
        "and the broker during the phase; peak RSS/PSS: summed over the controller's process tree, "
        "sampled every 0.2 s.",
        "",
        "## Results",
        "",
        _md_table(HEADERS, [[_cell(r, k) for k in KEYS] for r in _sorted(data["results"])]),
    ]
    if data["ratios"]:
        parts += [
            "",
            "## Baseline / collection",
            "",
            _md_table(RATIO_HEADER, _ratio_rows(data)),
            "",
            "`~`: the baseline was not run at this N; its time is extrapolated linearly.",
        ]
    parts += [
        "",
        "## Targets",
        "",
        _md_table(
            ["target", "value", "limit", "result"],
            [[t["target"], str(t["value"]), t["limit"], t["result"]] for t in data["targets"]],
        ),
        "",
        "## Where the time goes (slowest tasks per collection phase at the largest N)",
        "",
    ]
    coll = [r for r in data["results"] if r["approach"] == "collection" and r.get("tasks")]
    if coll:
        top_n = max(r["n"] for r in coll)
        for r in _sorted([r for r in coll if r["n"] == top_n]):
            parts.append(f"**{r['phase']} (N={top_n}, {r['wall_s']} s)**: " + "; ".join(
                f"{t['task']} {t['seconds']} s" for t in r["tasks"][:5]))  # fmt: skip
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"
