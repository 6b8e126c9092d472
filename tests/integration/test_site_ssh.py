"""site.yml end to end as users deploy it: the broker on another host, reached over SSH, running systemd.

The broker host is a Debian 12 container (tools/images/build.sh bookworm: systemd as PID 1, Mosquitto 2.0.21 from
bookworm-backports) sharing this machine's network: sshd on 127.0.60.5:2222, the broker's listener on port 18835.
24 emulated meters on 127.0.80.1-24 (one process). site.yml from nothing verifies every meter; the re-run and a
check run change nothing; rotate.yml of the server certificate is a reload under systemd that keeps every meter's
session and the subscriber's; verify.yml passes before and after.

Loopback: 127.0.60.5 (the container, see molecule/ssh-*: .1-.3) and 127.0.80.x (this suite's meters).
"""

import os
import subprocess
import time

import pytest

from tests.integration.lifecycle.fleet import ROOT, Fleet, Subscriber, changed_hosts, failed_hosts, show

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

NAMES = [f"site-ssh-{n:02d}" for n in range(1, 25)]
CONTAINER = "whatwatt-site-ssh-bookworm"
ADDRESS, SSH_PORT, BROKER_PORT = "127.0.60.5", 2222, 18835
IMAGES = os.path.join(ROOT, "tools", "images")


def _run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("site-ssh")
    image = _run(os.path.join(IMAGES, "build.sh"), "bookworm").stdout.split()[-1]
    key = os.path.join(base, "id_ed25519")
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "site-ssh", "-f", key)
    broker_vars = {
        "ansible_host": ADDRESS,
        "ansible_port": SSH_PORT,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": key,
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        "ansible_python_interpreter": "/usr/bin/python3",
    }
    fleet = Fleet(base, NAMES, first_ip="127.0.80.1", broker_ip=ADDRESS, broker_vars=broker_vars,
                  broker_port=BROKER_PORT)  # fmt: skip
    try:
        _run(os.path.join(IMAGES, "host.sh"), "start", CONTAINER, image, ADDRESS, str(SSH_PORT), f"{key}.pub")
        _wait_for_ssh(key)
        fleet.start()
        yield fleet
    finally:
        try:
            fleet.stop()
        finally:
            subprocess.run([os.path.join(IMAGES, "host.sh"), "rm", CONTAINER], check=False)


def _ssh(key, command, timeout=60):
    options = ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR", "BatchMode=yes",
               "ConnectTimeout=3"]  # fmt: skip
    argv = ["ssh", "-i", key, "-p", str(SSH_PORT), *(f"-o{option}" for option in options), f"root@{ADDRESS}", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _wait_for_ssh(key, timeout=90):
    deadline = time.monotonic() + timeout
    while True:
        proc = _ssh(key, "systemctl is-system-running --wait || true")
        if proc.returncode == 0 and proc.stdout.strip() in ("running", "degraded"):
            return proc.stdout.strip()
        if time.monotonic() > deadline:
            raise AssertionError(f"the broker host did not come up over SSH: {proc.stdout} {proc.stderr}")
        time.sleep(1)


def broker_shell(fleet, command):
    proc = _ssh(fleet.broker_vars["ansible_ssh_private_key_file"], command)
    assert proc.returncode == 0, f"{command}: rc={proc.returncode} {proc.stdout} {proc.stderr}"
    return proc.stdout


def assert_clean(proc, changed=()):
    assert proc.returncode == 0, show(proc)
    assert failed_hosts(proc) == [], show(proc)
    assert changed_hosts(proc) == sorted(changed), show(proc)


def test_site_over_ssh_provisions_every_meter_then_changes_nothing(fleet):
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
    assert broker_shell(fleet, "systemctl is-active mosquitto").strip() == "active"
    assert broker_shell(fleet, "systemctl is-enabled mosquitto").strip() == "enabled"
    assert "ProtectSystem=strict" in broker_shell(fleet, "systemctl show mosquitto -p ProtectSystem --no-pager")

    files = fleet.mtimes(".")
    assert_clean(fleet.playbook("site.yml"))
    assert_clean(fleet.playbook("site.yml", check=True))
    assert fleet.mtimes(".") == files  # nothing in the PKI or the device records was rewritten


def test_verify_passes_over_ssh(fleet):
    proc = fleet.playbook("verify.yml")
    assert_clean(proc)
    assert set(NAMES) <= set(proc.recap), show(proc)


def test_server_certificate_rotation_is_a_reload_that_keeps_every_meter_connected(fleet):
    before = fleet.pki_fingerprint("servers", "broker")
    pid = broker_shell(fleet, "systemctl show mosquitto -p MainPID --value").strip()
    connects = {name: fleet.state(name)["mqtt"]["connects"] for name in NAMES}
    subscriber = Subscriber(fleet, "test-site-ssh").start()
    try:
        proc = fleet.playbook("rotate.yml", "-e", '{"whatwatt_rotate": ["broker"]}')
        assert proc.returncode == 0, show(proc)
        assert changed_hosts(proc) == ["broker", "localhost"], show(proc)
        assert fleet.pki_fingerprint("servers", "broker") != before
        mark = time.monotonic()
        # A reload, not a restart: the same main process serves the new certificate (verify.yml compares the
        # served fingerprint with the PKI's).
        assert broker_shell(fleet, "systemctl show mosquitto -p MainPID --value").strip() == pid
        assert_clean(fleet.playbook("verify.yml"))
        deadline = time.monotonic() + 15
        while subscriber.topics_since(mark) < {f"meters/{n}" for n in NAMES} and time.monotonic() < deadline:
            time.sleep(0.2)
        assert subscriber.topics_since(mark) >= {f"meters/{n}" for n in NAMES}
        assert (subscriber.connects, subscriber.disconnects) == (1, 0)
    finally:
        subscriber.stop()
    assert {name: fleet.state(name)["mqtt"]["connects"] for name in NAMES} == connects
