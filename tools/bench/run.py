# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet benchmark: the collection's playbooks against the conventional baseline, side by side.

For each fleet size N it starts a fresh emulated fleet (and, with ``--broker external``, a fresh
mosquitto) and runs each phase as a real ``ansible-playbook`` subprocess:

  full    provisioning from nothing (PKI, broker, push, verify connected)
  rerun   the same playbook again (must change nothing)
  rotate  every device certificate issued again and pushed
  verify  the verification playbook

It measures wall time, CPU time of ansible-playbook and all its descendants (getrusage deltas), the
peak summed RSS/PSS of that process tree (sampled from /proc every 0.2 s), the CPU the emulator and
the broker burnt meanwhile, and the per-task time (tools/bench/callback_plugins/bench_profile.py).
Results: a table on stdout, benchmarks/results/latest.json and benchmarks/results/latest.md.
Run it through ``make bench`` / ``tools/bench.sh``; ``--help`` lists the options.
"""

import argparse
import contextlib
import datetime
import ipaddress
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # tools/: the test harness (tools/harness), never tests/

import procmon  # noqa: E402
import report  # noqa: E402
from harness import playbook  # noqa: E402
from harness.broker import MosquittoBroker  # noqa: E402
from harness.certs import issue, make_ca  # noqa: E402
from harness.emulator import EmulatorProcess, request  # noqa: E402
from harness.ports import free_port  # noqa: E402
from whatwatt_emulator.addressing import ip_range  # noqa: E402

PHASES = ("full", "rerun", "rotate", "verify")
APPROACHES = ("collection", "baseline")
FIRST_IP = {"collection": "127.1.0.1", "baseline": "127.1.64.1"}
MIB = 1024 * 1024


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# -- machine and versions ------------------------------------------------------------------------
def _cmd_output(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout or out.stderr).strip()


def _version(dist):
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info():
    cpu_model = None
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kib = None
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    mosquitto = _cmd_output([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-h"]) or ""
    lines = [ln for ln in mosquitto.splitlines() if " version " in ln]
    mosquitto_version = lines[0].split(" version ")[1].strip() if lines else None
    commit = _cmd_output(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = _cmd_output(["git", "-C", ROOT, "status", "--porcelain"])
    os_name = None
    with contextlib.suppress(OSError), open("/etc/os-release", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip().strip('"')
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": platform.node(),
        "os": os_name,
        "kernel": platform.release(),
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1) if mem_kib else None,
        "git_commit": (commit or "") + ("-dirty" if dirty else ""),
        "versions": {
            "ansible-core": _version("ansible-core"),
            "python": platform.python_version(),
            "mosquitto": mosquitto_version,
            "openssl": _cmd_output(["openssl", "version"]),
            "cryptography": _version("cryptography"),
            "paho-mqtt": _version("paho-mqtt"),
            "requests": _version("requests"),
        },
    }


# -- helpers -------------------------------------------------------------------------------------
def port_free(host, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def listening_on(port):
    """True when anything on this machine listens on TCP ``port`` (any address)."""
    out = _cmd_output(["ss", "-Hltn", f"sport = :{port}"])
    return bool(out)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


def make_external_ca(directory, broker_ip):
    """CA and broker certificate for --broker external (the broker must trust the CA before the run)."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    ca = make_ca("Bench Root CA").write(directory, "ca")
    server = issue(ca, "broker", server=True, sans=(broker_ip, "localhost")).write(directory, "server")
    return ca.cert_path, ca.key_path, server.cert_path, server.key_path


# One emulator process holds about 3 file descriptors a meter (its REST socket, its MQTT session, a connection
# being served) and ``ulimit -n`` is 20000 here: a larger fleet is several processes, one inventory file each.
METERS_PER_PROCESS = 4000


class Emulator:
    """The emulated fleet as one subprocess per METERS_PER_PROCESS meters (tools/harness), with the CPU it burnt."""

    def __init__(self, workdir, count, first_ip, report_interval):
        width = max(3, len(str(count)))
        addresses = ip_range(first_ip, count)  # the emulator's own sequence (it skips .0 and .255)
        self.processes = []
        for index, start in enumerate(range(0, count, METERS_PER_PROCESS)):
            size = min(METERS_PER_PROCESS, count - start)
            part = os.path.join(workdir, f"emulator-{index}")
            ip = addresses[start]
            self.processes.append(EmulatorProcess(
                part, size, ip, 80, report_interval=report_interval, log_level="WARNING", cwd=ROOT,
                inventory=os.path.join(part, "meters.yml"),
                extra_args=["--first-number", str(start + 1), "--name-width", str(width)],
            ))  # fmt: skip

    @property
    def inventories(self):
        return [process.inventory for process in self.processes]

    def meters(self):
        """``{name: address}`` of every meter, in name order."""
        out = {}
        for path in self.inventories:
            with open(path, encoding="utf-8") as handle:
                hosts = yaml.safe_load(handle)["all"]["children"]["meters"]["hosts"]
            out.update({name: host["ansible_host"] for name, host in hosts.items()})
        return dict(sorted(out.items()))

    def hang(self, count, delay, seconds=3600):
        """The first ``count`` meters answer every REST request ``delay`` s late for ``seconds``; their names."""
        names = list(self.meters().items())[:count]
        for _name, address in names:
            request(f"http://{address}/_emulator/fault", {"delay": delay, "seconds": seconds})
        return [name for name, _address in names]

    def start(self):
        for process in self.processes:
            process.start()
        return self

    def stop(self):
        for process in self.processes:
            process.stop()

    def cpu(self):
        total = 0.0
        for process in self.processes:
            with contextlib.suppress(OSError, ValueError, TypeError):
                total += procmon.cpu_seconds(process.pid)
        return total


class RoleBroker:
    """--broker role: the broker the mosquitto role runs (daemon with a pid file); we only read and stop it."""

    PID_FILE = "/run/mosquitto/mosquitto.pid"

    def pid(self):
        try:
            with open(self.PID_FILE, encoding="ascii") as handle:
                return int(handle.read().strip())
        except (OSError, ValueError):
            return None

    def cpu(self):
        pid = self.pid()
        try:
            return procmon.cpu_seconds(pid) if pid else 0.0
        except (OSError, ValueError):
            return 0.0


# -- one ansible-playbook run --------------------------------------------------------------------
def ansible_env(args, workdir, profile_path):
    env = playbook.ansible_env(
        forks=args.forks,
        python=sys.executable,
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
        ANSIBLE_STRATEGY=args.strategy,
        ANSIBLE_PIPELINING="true",
        ANSIBLE_HOST_KEY_CHECKING="false",
        ANSIBLE_DISPLAY_SKIPPED_HOSTS="false",
        ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"),
        ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
        ANSIBLE_CALLBACKS_ENABLED="bench_profile",
        WHATWATT_BENCH_PROFILE=profile_path,
    )
    env.pop("ANSIBLE_CONFIG", None)
    return env


@contextlib.contextmanager
def sampled_by(sampler):
    """``sampler`` (a procmon.TreeMemorySampler) runs while the block does."""
    sampler.start()
    try:
        yield sampler
    finally:
        sampler.stop()


def run_playbook(args, workdir, name, argv, timeout):
    """Run one phase; return its measurements."""
    logs = os.path.join(workdir, "logs")
    os.makedirs(logs, exist_ok=True)
    profile_path = os.path.join(logs, f"{name}.profile.json")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(profile_path)
    log_path = os.path.join(logs, f"{name}.log")
    env = ansible_env(args, workdir, profile_path)
    samplers = []

    def watch(pid):
        samplers.append(procmon.TreeMemorySampler(pid))
        return sampled_by(samplers[-1])

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = playbook.run(argv, env=env, cwd=ROOT, timeout=timeout, log_path=log_path, watch=watch)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = proc.elapsed
    rc, timed_out, sampler = proc.returncode, proc.timed_out, samplers[0]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    profile = {}
    with contextlib.suppress(OSError, ValueError), open(profile_path, encoding="utf-8") as handle:
        profile = json.load(handle)
    totals = profile.get("totals", {})
    status = "ok" if rc == 0 else ("timeout" if timed_out else f"failed (rc {rc})")
    return {
        "status": status,
        "rc": rc,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mib": round(sampler.peak_rss / MIB, 1),
        "peak_pss_mib": round(sampler.peak_pss / MIB, 1),
        "peak_processes": sampler.peak_procs,
        "changed": totals.get("changed"),
        "failures": (totals.get("failures") or 0) + (totals.get("unreachable") or 0) if totals else None,
        "changed_hosts": profile.get("changed_hosts", []),
        "failed_hosts": profile.get("failed_hosts", []),
        "tasks": summarize_tasks(profile.get("tasks", [])),
        "log": os.path.relpath(log_path, ROOT),
    }


def summarize_tasks(tasks, top=8):
    """The tasks that took longest (same-named tasks, e.g. include loops, added up)."""
    merged = {}
    for task in tasks:
        key = (task.get("play") or "", task.get("task") or "")
        entry = merged.setdefault(key, {"play": key[0], "task": key[1], "action": task.get("action"), "seconds": 0.0})
        entry["seconds"] += task.get("seconds", 0.0)
    ranked = sorted(merged.values(), key=lambda e: e["seconds"], reverse=True)
    for entry in ranked:
        entry["seconds"] = round(entry["seconds"], 2)
    return ranked[:top]


# -- one approach at one N -----------------------------------------------------------------------
def phase_commands(args, approach, inventory_args, extra):
    """{phase: argv or None (not available)}."""
    base = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), *inventory_args]
    limit = ["--limit", "localhost:meters"] if args.broker == "external" else []
    ev = ["-e", json.dumps(extra)] if extra else []
    if approach == "collection":
        site = os.path.join(ROOT, "playbooks", "site.yml")
        rotate_pb = os.path.join(ROOT, "playbooks", "rotate.yml")
        verify_pb = os.path.join(ROOT, "playbooks", "verify.yml")
        if os.path.exists(rotate_pb):
            # rotate.yml's own defaults (batches of 10 %, each verified) with every certificate renewed.
            rotate = base + [rotate_pb] + limit + ev + ["-e", json.dumps({"whatwatt_rotate_all": True})]
        else:
            rotate = base + [site] + limit + ev + ["-e", json.dumps({"whatwatt_pki_renew": "all"})]
        return {
            "full": base + [site] + limit + ev,
            "rerun": base + [site] + limit + ev,
            "rotate": rotate,
            "verify": (base + [verify_pb] + ev) if os.path.exists(verify_pb) else None,
        }
    site = os.path.join(ROOT, "benchmarks", "baseline", "site.yml")
    verify_pb = os.path.join(ROOT, "benchmarks", "baseline", "verify.yml")
    return {
        "full": base + [site] + limit + ev,
        "rerun": base + [site] + limit + ev,
        "rotate": base + [site] + limit + ev + ["-e", json.dumps({"baseline_rotate": True})],
        "verify": base + [verify_pb] + ev,
    }


def bench_one(args, approach, n, broker_port, results, on_row=None):
    """Run every phase of one approach at one N; rows are appended to ``results`` as they are measured."""
    workdir = os.path.join(ROOT, ".bench", f"{approach}-{n}")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir, mode=0o700)
    pki = os.path.join(workdir, "pki")
    emulator = Emulator(workdir, n, FIRST_IP[approach], args.report_interval)
    broker = None
    try:
        extra = {}
        if args.broker == "external":
            ca_crt, ca_key, srv_crt, srv_key = make_external_ca(os.path.join(workdir, "external-ca"), args.broker_host)
            live = os.path.join(workdir, "broker-certs")
            os.makedirs(live, mode=0o700)
            shutil.copy(srv_crt, os.path.join(live, "server.crt"))
            shutil.copy(srv_key, os.path.join(live, "server.key"))
            srv_crt, srv_key = os.path.join(live, "server.crt"), os.path.join(live, "server.key")
            broker = MosquittoBroker(os.path.join(workdir, "broker"), ca_crt, srv_crt, srv_key,
                                     host=args.broker_host, port=broker_port,
                                     extra_config="max_connections -1\n")  # fmt: skip
            broker.start()
            if approach == "collection":
                extra = {"whatwatt_pki_ca_cert_src": ca_crt, "whatwatt_pki_ca_key_src": ca_key}
            else:
                extra = {"baseline_ca_cert_src": ca_crt, "baseline_ca_key_src": ca_key}
        if approach == "baseline":
            extra["baseline_pki_dir"] = pki
        write_inventory(args, workdir, pki, broker_port)
        log(f"{approach} N={n}: starting the emulated fleet on {FIRST_IP[approach]}..")
        emulator.start()
        hanging = emulator.hang(args.hanging, args.hang_delay) if args.hanging else []
        if hanging:
            log(f"{approach} N={n}: {len(hanging)} meters answer {args.hang_delay:g} s late ({hanging[0]}..)")
        inventory_args = ["-i", os.path.join(workdir, "inventory")]
        for path in emulator.inventories:
            inventory_args += ["-i", path]
        commands = phase_commands(args, approach, inventory_args, extra)
        previous_ok = True
        for phase in args.phases:
            argv = commands.get(phase)
            if argv is None:
                results.append(row(approach, n, phase, status="n/a", note="playbook not in this checkout"))
                log(f"{approach} N={n} {phase}: n/a")
                continue
            if not previous_ok:
                results.append(row(approach, n, phase, status="skipped", note="an earlier phase failed"))
                continue
            fleet_cpu0 = emulator.cpu() + (broker_cpu(broker) if broker else RoleBroker().cpu())
            measured = run_playbook(args, workdir, phase, argv, timeout=args.phase_timeout + 3 * n)
            fleet_cpu1 = emulator.cpu() + (broker_cpu(broker) if broker else RoleBroker().cpu())
            measured["fleet_cpu_s"] = round(max(0.0, fleet_cpu1 - fleet_cpu0), 2)
            if hanging:
                # exactly the hanging meters failed, and nothing else
                measured["hanging"] = len(hanging)
                measured["failed_as_expected"] = measured["failed_hosts"] == sorted(hanging)
                if measured["rc"] == 2 and measured["failed_as_expected"]:
                    measured["status"] = "ok"
                    measured["note"] = f"exactly the {len(hanging)} hanging meters failed"
            results.append(row(approach, n, phase, **measured))
            if on_row is not None:
                on_row()
            if broker is not None and approach == "collection":
                adopt_server_certificate(broker, pki)
            log(
                f"{approach} N={n} {phase}: {measured['status']} wall {measured['wall_s']} s, "
                f"cpu {measured['cpu_s']} s, "
                f"peak {measured['peak_rss_mib']} MiB rss / {measured['peak_pss_mib']} MiB pss, "
                f"changed {measured['changed']}"
            )
            if measured["status"] != "ok":
                previous_ok = False
                log(f"  see {measured['log']}")
    finally:
        emulator.stop()
        if broker is not None:
            broker.stop()


def adopt_server_certificate(broker, pki):
    """--broker external: serve the PKI's broker certificate, as roles/mosquitto would (copy + SIGHUP, untimed).

    The private broker starts with a harness-made certificate from the same CA (it must listen before the
    first run issues anything); verify.yml then checks that the broker serves pki/servers/broker.crt.
    """
    src_crt, src_key = os.path.join(pki, "servers", "broker.crt"), os.path.join(pki, "servers", "broker.key")
    if not (os.path.exists(src_crt) and os.path.exists(src_key)):
        return
    with open(src_crt, "rb") as a, open(broker.certfile, "rb") as b:
        if a.read() == b.read():
            return
    shutil.copy(src_crt, broker.certfile)
    shutil.copy(src_key, broker.keyfile)
    broker.reload()
    time.sleep(0.5)


def broker_cpu(broker):
    try:
        return procmon.cpu_seconds(broker.proc.pid)
    except (OSError, ValueError, AttributeError):
        return 0.0


def row(approach, n, phase, **fields):
    base = {"approach": approach, "n": n, "phase": phase, "status": "ok"}
    base.update(fields)
    if base.get("wall_s") is not None:
        base["ms_per_device"] = round(base["wall_s"] * 1000 / n, 1)
    return base


def write_inventory(args, workdir, pki, broker_port):
    inv = os.path.join(workdir, "inventory")
    write(
        os.path.join(inv, "hosts.yml"),
        "---\n# Written by tools/bench/run.py.\nbrokers:\n  hosts:\n    broker:\n"
        f"      ansible_host: {args.broker_host}\n      ansible_connection: local\n",
    )
    group_vars = {
        "whatwatt_pki_dir": pki,
        "whatwatt_broker_host": args.broker_host,
        "whatwatt_broker_port": broker_port,
        "whatwatt_topic_prefix": "meters",
        "whatwatt_monitor_client_id": "whatwatt-monitor",
        "whatwatt_pki_servers": [{"name": "broker", "dns_names": ["localhost"], "ip_addresses": [args.broker_host]}],
    }
    if args.batch_size:
        group_vars["whatwatt_batch_size"] = args.batch_size
    write(os.path.join(inv, "group_vars", "all.yml"), "---\n" + json.dumps(group_vars, indent=2) + "\n")


# -- main ----------------------------------------------------------------------------------------
def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="tools/bench.sh", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="10,100,1000", help="fleet sizes, comma separated (default 10,100,1000)")
    parser.add_argument("--baseline-max", type=int, default=100,
                        help="largest N the baseline runs at; larger N are extrapolated (default 100)")  # fmt: skip
    parser.add_argument("--forks", type=int, default=25, help="ansible forks for both approaches (default 25)")
    parser.add_argument("--strategy", default="linear", help="ansible strategy for both approaches (default linear)")
    parser.add_argument("--batch-size", default="", help="whatwatt_batch_size for site.yml (default: the play's)")
    parser.add_argument("--broker", choices=("role", "external"), default="role",
                        help="role: the collection's mosquitto role on this machine (port 8883); "
                             "external: a private mosquitto per run on a free port (default role)")  # fmt: skip
    parser.add_argument("--broker-host", default="127.0.0.1", help="address devices reach the broker at")
    parser.add_argument("--broker-port", type=int, default=0,
                        help="broker port (default: 8883 with --broker role, a free port with external)")  # fmt: skip
    parser.add_argument("--approaches", default="collection,baseline", help="which approaches to run")
    parser.add_argument("--phases", default=",".join(PHASES), help="which phases to run (default all)")
    parser.add_argument("--report-interval", type=int, default=30, help="emulated meters' report interval (s)")
    parser.add_argument(
        "--hanging",
        type=int,
        default=0,
        help="this many meters (the first ones) answer every request --hang-delay s late during the"
        " run: the 'full' phase must fail exactly those, the others converge",
    )
    parser.add_argument("--hang-delay", type=float, default=30, help="seconds a hanging meter answers late (30)")
    parser.add_argument("--phase-timeout", type=int, default=1800, help="seconds per phase, plus 3 s per device")
    parser.add_argument("--output", default=os.path.join(ROOT, "benchmarks", "results"),
                        help="where latest.json and latest.md go")  # fmt: skip
    parser.add_argument("--no-write", action="store_true", help="print only; do not overwrite the results files")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    args.approaches = [a.strip() for a in args.approaches.split(",") if a.strip()]
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    for name in args.approaches:
        if name not in APPROACHES:
            parser.error(f"unknown approach {name}")
    for name in args.phases:
        if name not in PHASES:
            parser.error(f"unknown phase {name}")
    if max(args.sizes) > 16000:
        parser.error("at most 16000 devices (the 127.1.0.0/18 range per approach)")
    ipaddress.ip_address(args.broker_host)
    return args


def choose_port(args):
    if args.broker_port:
        return args.broker_port
    if args.broker == "role":
        return 8883
    return free_port(args.broker_host)


def _interrupt(*_):
    raise KeyboardInterrupt


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    info = machine_info()
    port = choose_port(args)
    broker_before = RoleBroker().pid() if args.broker == "role" else None
    if args.broker == "role" and listening_on(port) and not broker_before:
        log(f"warning: something already listens on port {port}; the mosquitto role will manage /etc/mosquitto")
    log(
        f"sizes {args.sizes}, approaches {args.approaches}, baseline up to N={args.baseline_max}, "
        f"forks {args.forks}, strategy {args.strategy}, broker {args.broker} on {args.broker_host}:{port}"
    )
    rows = []
    started = time.monotonic()

    def save():
        settings = {
            "command": "tools/bench.sh " + " ".join(sys.argv[1:] if argv is None else argv),
            "forks": args.forks,
            "strategy": args.strategy,
            "batch_size": args.batch_size or "play default",
            "broker": args.broker,
            "broker_endpoint": f"{args.broker_host}:{port}"
            if args.broker == "role"
            else f"{args.broker_host}:<free port>",
            "report_interval_s": args.report_interval,
            "baseline_max": args.baseline_max,
            "pipelining": True,
            "total_minutes": round((time.monotonic() - started) / 60, 1),
        }
        data = report.build(info, settings, rows)
        if not args.no_write:
            os.makedirs(args.output, exist_ok=True)
            write(os.path.join(args.output, "latest.json"), json.dumps(data, indent=2) + "\n")
            write(os.path.join(args.output, "latest.md"), report.markdown(data))
        return data

    try:
        for n in args.sizes:
            for approach in args.approaches:
                if approach == "baseline" and n > args.baseline_max:
                    rows.extend(report.not_run_rows(rows, approach, n, args.phases))
                    continue
                bench_one(args, approach, n, port if args.broker == "role" else choose_port(args), rows, save)
    except KeyboardInterrupt:
        log("interrupted; writing what was measured")
    finally:
        if args.broker == "role" and not broker_before:
            stop_role_broker()
    data = save()
    print(report.text_table(data), flush=True)
    if not args.no_write:
        log(f"wrote {os.path.relpath(args.output, ROOT)}/latest.json and latest.md")
    failed = [r for r in rows if r["status"] not in ("ok", "n/a", "not run")]
    return 1 if failed else 0


def stop_role_broker():
    """Stop the broker the mosquitto role started for the benchmark (its pid file), leaving nothing running."""
    pid = RoleBroker().pid()
    if not pid:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        log(f"stopped the role's mosquitto (pid {pid})")


if __name__ == "__main__":
    sys.exit(main())
