"""The lifecycle playbooks end to end: site, verify, rotate, ca_rollover, revoke and report, run with
ansible-playbook against the Mosquitto the role manages on this machine (mTLS on 8883) and 6 emulated meters.

Loopback range: 127.0.40.x (meters .1-.6, broker address .250). The tests run in file order on one fleet,
each leaving it converged for the next. Helpers: tests/integration/lifecycle/fleet.py.
"""

import json
import os
import time

import pytest

from harness.playbook import assert_clean, changed_hosts, failed_hosts, fleet_counts, show

from tests.integration.lifecycle.fleet import Fleet, fingerprint_hex

pytestmark = pytest.mark.integration

NAMES = [f"whatwatt-{n:02d}" for n in range(1, 7)]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    with Fleet(tmp_path_factory.mktemp("playbooks"), NAMES) as fleet:
        yield fleet


def assert_verify_passes(fleet, active=NAMES):
    proc = fleet.playbook("verify.yml")
    assert_clean(proc)
    # One task checks the whole fleet: a healthy meter has no recap line of its own, the summary counts it.
    healthy = dict(meters=len(active), changed=0, verified=len(active), failed=0, rolled_back=0)
    assert fleet_counts(proc) == healthy, show(proc)
    return proc


def test_site_from_nothing_then_verify_then_nothing_to_do(fleet):
    proc = fleet.playbook("site.yml")
    assert proc.returncode == 0, show(proc)
    assert failed_hosts(proc) == []
    assert set(NAMES) <= set(changed_hosts(proc)), show(proc)
    fleet.wait_connected(NAMES)

    assert_verify_passes(fleet)

    files = fleet.mtimes(".")
    assert_clean(fleet.playbook("site.yml"))
    assert_clean(fleet.playbook("site.yml", check=True))
    assert fleet.mtimes(".") == files  # nothing in the PKI or the device records was rewritten


def test_a_stopped_broker_is_started_again_by_the_next_site_run(fleet):
    if fleet.support_broker:
        pytest.skip("the development mode's support broker is not the one the role manages")
    stop = fleet.playbook("broker_stop.yml")
    assert stop.returncode == 0 and changed_hosts(stop) == ["broker"], show(stop)
    # The broker's files are unchanged: mosquitto_files itself starts it (its ensure), nothing else changes.
    proc = fleet.playbook("site.yml")
    assert proc.returncode == 0 and failed_hosts(proc) == [], show(proc)
    assert changed_hosts(proc) == ["broker"], show(proc)
    fleet.wait_connected(NAMES)
    assert_clean(fleet.playbook("site.yml"))


def test_verify_fails_and_changes_nothing_when_a_meter_stops_publishing(fleet):
    fleet.control("whatwatt-05", "/_emulator/meter", {"present": False})
    try:
        proc = fleet.playbook("verify.yml")
        assert proc.returncode != 0
        assert failed_hosts(proc) == ["whatwatt-05"], show(proc)
        assert changed_hosts(proc) == []
        assert "no message arrived on meters/whatwatt-05" in proc.stdout
    finally:
        fleet.control("whatwatt-05", "/_emulator/meter", {"present": True})
    assert_verify_passes(fleet)


def test_server_certificate_rotation_reloads_without_dropping_anyone(fleet):
    before = fleet.pki_fingerprint("servers", "broker")
    device_connects = {name: fleet.state(name)["mqtt"]["connects"] for name in NAMES}
    subscriber = fleet.subscriber("test-long-lived")
    try:
        proc = fleet.playbook("rotate.yml", "-e", '{"whatwatt_rotate": ["broker"]}')
        assert proc.returncode == 0, show(proc)
        assert changed_hosts(proc) == sorted(["localhost", "broker"]) or fleet.support_broker, show(proc)
        after = fleet.pki_fingerprint("servers", "broker")
        assert after != before
        mark = time.monotonic()
        # New handshakes see the new certificate: verify.yml compares the served fingerprint with the PKI.
        assert_verify_passes(fleet)
        assert subscriber.wait_topics(mark, {f"meters/{n}" for n in NAMES}, timeout=10) == []
        assert (subscriber.connects, subscriber.disconnects) == (1, 0)
    finally:
        subscriber.stop()
    # The meters were not dropped either.
    assert {name: fleet.state(name)["mqtt"]["connects"] for name in NAMES} == device_connects


def test_verify_fails_naming_the_broker_when_its_certificate_does_not_hold_the_address(fleet):
    # The listener binds every address: 127.0.40.249 reaches it, but the broker's certificate does not name it, so
    # a meter told to use that address would refuse the broker; verify.yml's handshake must refuse it too.
    files = fleet.mtimes(".")
    proc = fleet.playbook("verify.yml", "-e", "whatwatt_verify_broker_address=127.0.40.249")
    assert proc.returncode != 0
    assert failed_hosts(proc) == ["broker"], show(proc)
    assert changed_hosts(proc) == []
    # (the development mode's support broker binds the broker's address only: nothing answers on .249)
    reason = "Connection refused" if fleet.support_broker else "IP address mismatch"
    assert f"broker 127.0.40.249:{fleet.broker_port}: TLS handshake failed: {reason}" in proc.stdout, show(proc)
    assert fleet.mtimes(".") == files


def test_device_rotation_in_batches_stops_at_the_first_bad_batch(fleet):
    old = {name: fleet.device_cert(name) for name in NAMES}
    fleet.control("whatwatt-02", "/_emulator/meter", {"present": False})  # connects, but never publishes
    try:
        proc = fleet.playbook("rotate.yml", "-e", json.dumps({"whatwatt_rotate": NAMES, "whatwatt_rotate_batch": 2}))
    finally:
        fleet.control("whatwatt-02", "/_emulator/meter", {"present": True})
    assert proc.returncode != 0
    assert failed_hosts(proc) == ["whatwatt-02"], show(proc)
    assert "rolled back to the previous MQTT settings and certificates" in proc.stdout
    new = {name: fleet.pki_fingerprint("clients", name) for name in NAMES}
    assert all(new[name] != old[name] for name in NAMES)  # the PKI renewed all six ...
    assert fleet.device_cert("whatwatt-01") == new["whatwatt-01"]  # ... batch 1 went out, its good meter kept it
    assert fleet.device_cert("whatwatt-02") == old["whatwatt-02"]  # the bad one was rolled back
    for name in NAMES[2:]:  # ... and the run stopped before batch 2
        assert fleet.device_cert(name) == old[name], name
        assert name not in proc.recap or proc.recap[name]["ok"] <= 1, show(proc)
    fleet.wait_connected(NAMES)

    # Fixed: the next run rolls the renewed certificates out to the rest, batch by batch.
    proc = fleet.playbook("rotate.yml", "-e", "whatwatt_rotate_batch=2")
    assert_clean(proc, changed=NAMES[1:])
    assert {name: fleet.device_cert(name) for name in NAMES} == new
    assert_verify_passes(fleet)


@pytest.mark.timeout(900)
def test_ca_rollover_in_three_idempotent_steps(fleet):
    old_ca = fleet.pki_fingerprint(".", "ca")
    for step in ("introduce", "activate", "retire"):
        proc = fleet.playbook("ca_rollover.yml", "-e", f"whatwatt_ca_rollover_step={step}")
        assert proc.returncode == 0, show(proc)
        assert failed_hosts(proc) == []
        assert set(NAMES) <= set(changed_hosts(proc)), show(proc)  # every meter got the new bundle or certificate
        fleet.wait_connected(NAMES)
        assert_clean(fleet.playbook("ca_rollover.yml", "-e", f"whatwatt_ca_rollover_step={step}"))
        assert_verify_passes(fleet)  # every meter connected and publishing after each step
        with open(os.path.join(fleet.pki_dir, "ca-bundle.crt"), encoding="ascii") as handle:
            bundle = handle.read()
        assert bundle.count("BEGIN CERTIFICATE") == (1 if step == "retire" else 2)
    assert fleet.pki_fingerprint(".", "ca") != old_ca
    ca = fleet.pki_fingerprint(".", "ca")
    # Every meter trusts only the new CA and holds a certificate the new CA signed.
    for name in NAMES:
        assert fleet.state(name)["settings"]["broker_certificate_sha256"] == fingerprint_hex(ca)


def test_revoke_one_meter(fleet):
    proc = fleet.playbook("revoke.yml", "-e", '{"whatwatt_revoke": ["whatwatt-03"]}')
    assert proc.returncode == 0, show(proc)
    assert failed_hosts(proc) == []
    marked = os.path.join(fleet.inventory_dir, "host_vars", "whatwatt-03.yml")
    with open(marked, encoding="utf-8") as handle:
        assert "whatwatt_revoked: true" in handle.read()
    others = [name for name in NAMES if name != "whatwatt-03"]
    # Whatever the broker did with the open session, from now on the meter cannot connect.
    fleet.control("whatwatt-03", "/_emulator/fault", {"mqtt_drop": True})
    deadline = time.monotonic() + 15
    while "revoked" not in (fleet.state("whatwatt-03")["mqtt"]["last_error"] or "") and time.monotonic() < deadline:
        time.sleep(0.3)
    state = fleet.state("whatwatt-03")["mqtt"]
    assert not state["connected"] and "revoked" in state["last_error"], state
    fleet.wait_connected(others)
    proc = assert_verify_passes(fleet, active=others)
    assert "whatwatt-03" not in proc.recap  # set aside on the controller, never checked or pushed
    # The mark and the PKI record stick: a normal run leaves the revoked meter alone.
    assert_clean(fleet.playbook("site.yml"))
    assert not fleet.state("whatwatt-03")["mqtt"]["connected"]


def test_report_lists_every_certificate(fleet):
    proc = fleet.playbook("report.yml")
    assert proc.returncode == 0, show(proc)
    report_dir = os.path.join(fleet.pki_dir, "reports")
    with open(os.path.join(report_dir, "certificates.json"), encoding="utf-8") as handle:
        report = json.load(handle)
    rows = {(row["kind"], row["name"]): row for row in report["certificates"]}
    expected = {("ca", "ca"), ("server", "broker")}
    expected |= {("client", reader) for reader in ("whatwatt-monitor", "whatwatt-verify", "whatwatt-watch")}
    expected |= {("client", name) for name in NAMES}
    assert set(rows) == expected
    for key, row in rows.items():
        assert row["serial"] and row["not_after"] and row["subject"], key
        assert row["days_left"] > 300, key
    assert rows[("client", "whatwatt-03")]["status"] == "revoked"
    assert {row["status"] for key, row in rows.items() if key != ("client", "whatwatt-03")} == {"ok"}
    assert rows[("client", "whatwatt-01")]["subject"] == "CN=whatwatt-01"
    with open(os.path.join(report_dir, "certificates.md"), encoding="utf-8") as handle:
        table = handle.read()
    for kind, name in expected:
        assert f"| {kind} | {name} |" in table, name
    assert rows[("client", "whatwatt-01")]["serial"] in table
    # A second run writes nothing new.
    assert_clean(fleet.playbook("report.yml"))
