"""site.yml end to end as users deploy it: the broker on another host, reached over SSH, running systemd.

The broker host is a Debian 12 container (tools/images/build.sh bookworm: systemd as PID 1, Mosquitto 2.0.21 from
bookworm-backports) sharing this machine's network: sshd on 127.0.60.5:2222, the broker's listener on port 18835.
24 emulated meters on 127.0.80.1-24 (one process). site.yml from nothing verifies every meter; the re-run and a
check run change nothing; rotate.yml of the server certificate is a reload under systemd that keeps every meter's
session and the subscriber's; verify.yml passes before and after.

Loopback: 127.0.60.5 (the container, see molecule/ssh-*: .1-.3) and 127.0.80.x (this suite's meters).
"""

import time

import pytest

from harness.playbook import assert_clean, changed_hosts, failed_hosts, fleet_counts, show

from tests.integration.lifecycle.ssh_host import BrokerHost

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

NAMES = [f"site-ssh-{n:02d}" for n in range(1, 25)]
ADDRESS, BROKER_PORT = "127.0.60.5", 18835


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    with BrokerHost(tmp_path_factory.mktemp("site-ssh-host"), "bookworm", "whatwatt-site-ssh", ADDRESS) as host:
        yield host


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, host):
    with host.fleet(tmp_path_factory.mktemp("site-ssh"), NAMES, "127.0.80.1", BROKER_PORT) as fleet:
        yield fleet


def test_site_over_ssh_provisions_every_meter_then_changes_nothing(fleet, host):
    proc = fleet.playbook("site.yml")
    assert proc.returncode == 0, show(proc)
    assert failed_hosts(proc) == [], show(proc)
    assert set(NAMES) | {"broker"} <= set(changed_hosts(proc)), show(proc)
    # The device role verified every meter (no failed host); each holds the certificate the PKI issued for it
    # and is connected to the broker in the container.
    assert {name: fleet.device_cert(name) for name in NAMES} == {
        name: fleet.pki_fingerprint("clients", name) for name in NAMES
    }
    fleet.wait_connected(NAMES)
    # The broker runs as users run it: the systemd unit, active and enabled, under the hardening drop-in.
    assert host.shell("systemctl is-active mosquitto").strip() == "active"
    assert host.shell("systemctl is-enabled mosquitto").strip() == "enabled"
    assert "ProtectSystem=strict" in host.shell("systemctl show mosquitto -p ProtectSystem --no-pager")

    files = fleet.mtimes(".")
    assert_clean(fleet.playbook("site.yml"))
    assert_clean(fleet.playbook("site.yml", check=True))
    assert fleet.mtimes(".") == files  # nothing in the PKI or the device records was rewritten


def test_verify_passes_over_ssh(fleet):
    proc = fleet.playbook("verify.yml")
    assert_clean(proc)
    healthy = dict(meters=len(NAMES), changed=0, verified=len(NAMES), failed=0, rolled_back=0)
    assert fleet_counts(proc) == healthy, show(proc)


def test_server_certificate_rotation_is_a_reload_that_keeps_every_meter_connected(fleet, host):
    before = fleet.pki_fingerprint("servers", "broker")
    pid = host.shell("systemctl show mosquitto -p MainPID --value").strip()
    connects = {name: fleet.state(name)["mqtt"]["connects"] for name in NAMES}
    subscriber = fleet.subscriber("test-site-ssh")
    try:
        proc = fleet.playbook("rotate.yml", "-e", '{"whatwatt_rotate": ["broker"]}')
        assert proc.returncode == 0, show(proc)
        assert changed_hosts(proc) == ["broker", "localhost"], show(proc)
        assert fleet.pki_fingerprint("servers", "broker") != before
        mark = time.monotonic()
        # A reload, not a restart: the same main process serves the new certificate (verify.yml compares the
        # served fingerprint with the PKI's).
        assert host.shell("systemctl show mosquitto -p MainPID --value").strip() == pid
        assert_clean(fleet.playbook("verify.yml"))
        assert subscriber.wait_topics(mark, {f"meters/{n}" for n in NAMES}, timeout=15) == []
        assert (subscriber.connects, subscriber.disconnects) == (1, 0)
    finally:
        subscriber.stop()
    assert {name: fleet.state(name)["mqtt"]["connects"] for name in NAMES} == connects
