"""The collection as users install it: the tarball installed into a scratch collections path (the only one), a
fresh virtualenv with ansible-core and the collection's runtime requirements only (requirements.txt: no test
tools), a user's minimal inventory, and the playbooks named by FQCN.

Run by `tools/checks.sh build` after it has installed the tarball into .build/install. It shares the playbook
suite's harness (tests/integration/lifecycle/fleet.py: the machine's broker on 8883, held under
/tmp/whatwatt-broker.lock, meters on 127.0.40.x), so it never runs at the same time as that suite.
"""

import json
import os
import re
import subprocess
import sys

import time

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.playbook import ROOT, changed_hosts, failed_hosts, fleet_counts, show

from tests.integration.lifecycle.fleet import Fleet

pytestmark = pytest.mark.installed

INSTALLED = os.path.join(ROOT, ".build", "install")
COLLECTION = os.path.join(INSTALLED, "ansible_collections", "whatwatt", "secure_mqtt")
NAMES = ["meter-a", "meter-b", "meter-c"]
PLAYBOOKS = ["site", "verify", "rotate", "revoke", "report", "broker_stop", "ca_rollover"]


def pinned(package):
    with open(os.path.join(ROOT, "requirements-dev.txt"), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith(f"{package}=="):
                return line.strip()
    raise AssertionError(f"{package} is not pinned in requirements-dev.txt")


def snapshot(top):
    """Every file under ``top`` with size and mtime; Python's own bytecode caches left out (see the note)."""
    out = {}
    for dirpath, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            out[os.path.relpath(path, top)] = (st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """ansible-core (the development pin) + the installed collection's requirements.txt, nothing else."""
    assert os.path.isfile(os.path.join(COLLECTION, "MANIFEST.json")), "run tools/checks.sh build: nothing installed"
    path = str(tmp_path_factory.mktemp("venv"))
    subprocess.run([sys.executable, "-m", "venv", path], check=True)
    pip = [os.path.join(path, "bin", "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, pinned("ansible-core"), "-r", os.path.join(COLLECTION, "requirements.txt")], check=True)
    frozen = subprocess.run([os.path.join(path, "bin", "python"), "-m", "pip", "freeze"],
                            capture_output=True, text=True, check=True).stdout.lower()  # fmt: skip
    for tool in ("pytest", "molecule", "ansible-lint", "ruff"):
        assert f"{tool}==" not in frozen, f"the runtime requirements pulled in {tool}"
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, venv):
    fleet = Fleet(tmp_path_factory.mktemp("installed"), NAMES)
    fleet.runner.bin_dir = os.path.join(venv, "bin")
    fleet.runner.collections_path = INSTALLED
    with fleet:
        yield fleet


def minimal_inventory(fleet, **group_vars):
    """What the README's minimal inventory lists (plus the suite's test timings), and nothing else."""
    meters = {n: {"ansible_host": fleet.ip(n), "whatwatt_api_port": fleet.api_port} for n in NAMES}
    hosts = {"brokers": {"hosts": {"broker": {"ansible_connection": "local", "ansible_host": "127.0.40.250"}}},
             "meters": {"vars": {"ansible_connection": "local"}, "hosts": meters}}  # fmt: skip
    with open(os.path.join(fleet.inventory_dir, "hosts.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(hosts, handle)
    with open(os.path.join(fleet.inventory_dir, "group_vars", "all.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"whatwatt_report_interval": 1, "whatwatt_verify_timeout": 8, **group_vars}, handle)


def test_every_playbook_resolves_by_fqcn(fleet):
    for name in PLAYBOOKS:
        proc = fleet.playbook(f"whatwatt.secure_mqtt.{name}", "--syntax-check")
        assert proc.returncode == 0, f"whatwatt.secure_mqtt.{name}\n{show(proc)}"


def test_a_missing_pki_dir_is_one_clear_error_before_anything_is_written(fleet):
    minimal_inventory(fleet, whatwatt_broker_host="127.0.40.250")
    before = snapshot(COLLECTION)
    proc = fleet.playbook("whatwatt.secure_mqtt.site")
    assert proc.returncode != 0, show(proc)
    assert "whatwatt_pki_dir is not set" in proc.stdout, show(proc)
    assert snapshot(COLLECTION) == before
    assert not os.path.exists(fleet.pki_dir)
    assert not [p for p in before if p.endswith((".key", ".crt"))], "the installed collection holds keys"


def test_a_missing_broker_host_names_the_variable_and_the_meters(fleet):
    minimal_inventory(fleet, whatwatt_pki_dir=fleet.pki_dir)
    proc = fleet.playbook("whatwatt.secure_mqtt.site")
    assert proc.returncode != 0, show(proc)
    wanted = r"whatwatt_broker_host is not set for 3 meter\(s\) \(meter-a, meter-b, meter-c\)"
    assert re.search(wanted, proc.stdout), show(proc)
    assert not os.path.exists(fleet.pki_dir)


def test_site_and_verify_by_fqcn_from_the_installed_collection(fleet):
    minimal_inventory(fleet, whatwatt_pki_dir=fleet.pki_dir, whatwatt_broker_host="127.0.40.250",
                      mosquitto_monitor_read_sys=True)  # fmt: skip
    before = snapshot(COLLECTION)

    proc = fleet.playbook("whatwatt.secure_mqtt.site")
    assert proc.returncode == 0, show(proc)
    assert failed_hosts(proc) == [], show(proc)
    assert set(NAMES) <= set(changed_hosts(proc)), show(proc)
    fleet.wait_connected(NAMES)

    again = fleet.playbook("whatwatt.secure_mqtt.site")
    assert again.returncode == 0, show(again)
    assert changed_hosts(again) == [], show(again)

    verify = fleet.playbook("whatwatt.secure_mqtt.verify")
    assert verify.returncode == 0, show(verify)
    # One task checks the whole fleet: the summary counts every meter as verified.
    healthy = dict(meters=len(NAMES), changed=0, verified=len(NAMES), failed=0, rolled_back=0)
    assert fleet_counts(verify) == healthy, show(verify)

    prom = os.path.join(fleet.base, "node-exporter", "whatwatt.prom")
    report = fleet.playbook("whatwatt.secure_mqtt.report", "-e", f"whatwatt_report_prometheus_file={prom}")
    assert report.returncode == 0, show(report)
    with open(os.path.join(fleet.pki_dir, "reports", "certificates.json"), encoding="utf-8") as handle:
        rows = json.load(handle)["certificates"]
    assert {r["name"] for r in rows} >= set(NAMES)
    # The Prometheus textfile parses, one series per certificate, and carries verify.yml's result per meter.
    with open(prom, encoding="utf-8") as handle:
        families = {f.name: f for f in text_string_to_metric_families(handle.read())}
    expiry = families["whatwatt_certificate_not_after_timestamp_seconds"].samples
    readers = ["whatwatt-monitor", "whatwatt-verify", "whatwatt-watch"]
    assert sorted(s.labels["name"] for s in expiry) == sorted(["ca", "broker", *readers, *NAMES])
    assert all(s.value > time.time() + 300 * 86400 for s in expiry)
    assert families["whatwatt_crl_next_update_timestamp_seconds"].samples[0].value > time.time()
    ok = {s.labels["client_id"]: s.value for s in families["whatwatt_meter_verification_ok"].samples}
    assert ok == dict.fromkeys(NAMES, 1.0)
    # Nothing changed since: the same report again changes nothing.
    again = fleet.playbook("whatwatt.secure_mqtt.report", "-e", f"whatwatt_report_prometheus_file={prom}")
    assert again.returncode == 0 and changed_hosts(again) == [], show(again)

    # mosquitto_monitor_read_sys: the monitoring identity reads the broker's $SYS tree (for an exporter).
    sys_reader = fleet.subscriber("whatwatt-monitor", topic="$SYS/broker/version")
    try:
        deadline = time.monotonic() + 20
        while not sys_reader.topics_since(0) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sys_reader.topics_since(0) == {"$SYS/broker/version"}
    finally:
        sys_reader.stop()

    # The PKI is where the inventory says, and nothing was written inside the installed collection.
    assert os.path.isfile(os.path.join(fleet.pki_dir, "ca.key"))
    assert snapshot(COLLECTION) == before
