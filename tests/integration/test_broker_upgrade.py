"""An in-place upgrade of a running broker from Mosquitto 2.0 to 2.1, reached over SSH as users reach it.

The host is a Debian unstable container (tools/images/build.sh sid: no init, the role's daemon mode) on which
Mosquitto 2.0.21 is installed from Debian 13 first (`apt-get install mosquitto/trixie`), as on a host that ran 2.0
before unstable moved to 2.1. site.yml converges it on 2.0 (acl_file, 2.0's validation), three emulated meters
connect; then the same site.yml with `mosquitto_min_version: 2.1.0` upgrades the package in place (apt), renders
2.1's configuration (the acl-file plugin at the path the package lists), validates it with a scratch broker and
restarts: the broker serves again on the new binary and every meter is back, verified. The re-run changes nothing.

Loopback: 127.0.60.6 (the container: sshd on port 2222, the broker on 18836) and 127.0.81.x (the meters).
"""

import re

import pytest

from harness.playbook import changed_hosts, failed_hosts, show

from tests.integration.lifecycle.ssh_host import BrokerHost

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

NAMES = [f"upgrade-{n:02d}" for n in range(1, 4)]
ADDRESS, BROKER_PORT = "127.0.60.6", 18836
VERSION = re.compile(r"mosquitto version (\d+\.\d+\.\d+)")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    with BrokerHost(tmp_path_factory.mktemp("upgrade-host"), "sid", "whatwatt-upgrade-sid", ADDRESS) as host:
        # The host as it was before unstable moved to 2.1: Mosquitto 2.0.21 from Debian 13.
        host.shell(
            "echo 'deb http://deb.debian.org/debian trixie main' > /etc/apt/sources.list.d/trixie.list"
            " && apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -qy install mosquitto/trixie",
            timeout=600,
        )
        yield host


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, host):
    with host.fleet(tmp_path_factory.mktemp("upgrade"), NAMES, "127.0.81.1", BROKER_PORT) as fleet:
        yield fleet


def broker_version(host):
    return VERSION.search(host.ssh("mosquitto -h").stdout).group(1)


def broker_pid(host):
    return host.shell("cat /run/mosquitto/mosquitto.pid").strip()


def running_version(host):
    """The version the running broker logged when it started (root in the container may not read another user's
    /proc/<pid>/exe: no CAP_SYS_PTRACE)."""
    started = re.findall(
        r"mosquitto version (\d+\.\d+\.\d+) starting", host.shell("cat /var/log/mosquitto/mosquitto.log")
    )
    return started[-1] if started else None


def test_site_converges_the_2_0_broker(fleet, host):
    assert broker_version(host).startswith("2.0.")
    proc = fleet.playbook("site.yml")
    assert proc.returncode == 0, show(proc)
    assert failed_hosts(proc) == [], show(proc)
    assert set(NAMES) | {"broker"} <= set(changed_hosts(proc)), show(proc)
    conf = host.shell("cat /etc/mosquitto/mosquitto.conf")
    assert re.search(r"^acl_file ", conf, re.M) and not re.search(r"^global_plugin ", conf, re.M), conf
    fleet.wait_connected(NAMES)


def test_raising_the_minimum_upgrades_the_running_broker_to_2_1_in_place(fleet, host):
    connects = {name: fleet.state(name)["mqtt"]["connects"] for name in NAMES}
    pid = broker_pid(host)
    assert running_version(host).startswith("2.0.")
    proc = fleet.playbook("site.yml", "-e", "mosquitto_min_version=2.1.0")
    assert proc.returncode == 0, show(proc)
    assert failed_hosts(proc) == [], show(proc)
    assert "broker" in changed_hosts(proc), show(proc)
    assert broker_version(host).startswith("2.1.")
    # 2.1's configuration, with the plugin where the package put it, served by the binary now installed (a new
    # process, which logged 2.1 when it started).
    conf = host.shell("cat /etc/mosquitto/mosquitto.conf")
    plugin = re.search(r"^global_plugin (\S+)", conf, re.M)
    assert plugin and not re.search(r"^acl_file ", conf, re.M), conf
    host.shell(f"test -f {plugin.group(1)}")
    assert broker_pid(host) != pid and running_version(host).startswith("2.1."), host.shell(
        "tail -20 /var/log/mosquitto/mosquitto.log"
    )
    # The meters were dropped by the restart and came back on their own; verify.yml proves them publishing.
    fleet.wait_connected(NAMES, timeout=60)
    assert all(fleet.state(name)["mqtt"]["connects"] > connects[name] for name in NAMES)
    verify = fleet.playbook("verify.yml")
    assert verify.returncode == 0 and failed_hosts(verify) == [], show(verify)
    # Idempotent on 2.1: nothing to install, render or restart.
    again = fleet.playbook("site.yml", "-e", "mosquitto_min_version=2.1.0")
    assert again.returncode == 0 and changed_hosts(again) == [], show(again)
