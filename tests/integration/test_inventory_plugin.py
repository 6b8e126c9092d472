"""The inventory plugin whatwatt.secure_mqtt.meters against an emulated network on 127.0.70.x: six meters (one
on a FREE licence), two protected meters on old firmware (HTTP Basic), two HTTP servers that are not meters and
dead addresses in between; names stable across a move to new addresses; then site.yml with this inventory alone
(plus the broker host) provisions what it found.

Loopback range: 127.0.70.x (meters .1-.6 and, after the move, .101-.106; protected .20-.21; other servers .40-.41;
the broker's address .250).
"""

import fcntl
import http.server
import json
import os
import subprocess
import threading

import pytest
import yaml
from whatwatt_emulator import Fleet as EmulatorFleet

from harness.playbook import BIN, ansible_env, changed_hosts, failed_hosts, show

from tests.integration.lifecycle.fleet import LOCK, Fleet
from harness.ports import free_port

pytestmark = pytest.mark.integration

PROTECTED_PASSWORD = "inventory-test-pw"
BROKER_IP = "127.0.70.250"


class NotAMeter(http.server.BaseHTTPRequestHandler):
    """Port 80 of something else on the LAN: a JSON API of another vendor, or only 404s."""

    body = None

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.body is None:
            self.send_error(404)
            return
        data = json.dumps(self.body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class OtherVendor(NotAMeter):
    body = {"device": {"model": "Shelly Plug S", "id": "C45BBE000001"}}


def serve(address, port, handler):
    server = http.server.ThreadingHTTPServer((address, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("inventory")
    port = free_port("127.0.70.1")
    started, servers = {}, []
    try:
        started["a"] = EmulatorFleet(count=6, first_ip="127.0.70.1", port=port, state_dir=base / "emu-a",
                                     report_interval=1).start()  # fmt: skip
        started["b"] = EmulatorFleet(count=2, first_ip="127.0.70.20", port=port, state_dir=base / "emu-b",
                                     report_interval=1, firmware="1.9.0", password=PROTECTED_PASSWORD)  # fmt: skip
        started["b"].start()
        started["a"].devices[5].license_type = "FREE"
        servers = [serve("127.0.70.40", port, NotAMeter), serve("127.0.70.41", port, OtherVendor)]
        yield dict(base=str(base), port=port, fleets=started)
    finally:
        for server in servers:
            server.shutdown()
        for fleet in started.values():
            fleet.stop()


def write_config(world, name="fleet.whatwatt.yml", directory=None, **extra):
    directory = directory or world["base"]
    os.makedirs(directory, exist_ok=True)
    config = dict(plugin="whatwatt.secure_mqtt.meters", networks=["127.0.70.0/25"], port=world["port"], timeout=1,
                  keyed_groups=[dict(key="whatwatt_license", prefix="licence")], **extra)  # fmt: skip
    path = os.path.join(directory, name)
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config, handle)
    return path


def inventory(path, *args):
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", path, *args], env=ansible_env(),
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc


def load_inventory(text):
    """ansible-inventory's JSON. From ansible-core 2.19 on, values an inventory plugin sets are untrusted (data, not
    templates) and --list writes each as {"__ansible_unsafe": value}: the value is what the plugin set."""

    def unwrap(obj):
        return obj["__ansible_unsafe"] if set(obj) == {"__ansible_unsafe"} else obj

    return json.loads(text, object_hook=unwrap)


def ids(fleet):
    return {f"whatwatt-{device.device_id.lower()}": device for device in fleet.devices}


def test_list_shows_exactly_the_meters_it_can_read(world):
    proc = inventory(write_config(world), "--list", "-v")
    data = load_inventory(proc.stdout[proc.stdout.index("{") :])
    meters = ids(world["fleets"]["a"])
    assert sorted(data["meters"]["hosts"]) == sorted(meters)
    free = f"whatwatt-{world['fleets']['a'].devices[5].device_id.lower()}"
    assert sorted(data["whatwatt_ready"]["hosts"]) == sorted(set(meters) - {free})
    assert data["whatwatt_not_ready"]["hosts"] == [free]
    assert data["licence_FREE"]["hosts"] == [free]
    hostvars = data["_meta"]["hostvars"]
    for name, device in meters.items():
        assert hostvars[name]["ansible_host"] == device.ip
        assert hostvars[name]["whatwatt_api_port"] == world["port"]
        assert hostvars[name]["whatwatt_client_id"] == name
        assert hostvars[name]["whatwatt_device_id"] == device.device_id
    assert "licence FREE has no MQTT client" in hostvars[free]["whatwatt_not_ready_reasons"][0]
    assert {hostvars[name]["ansible_connection"] for name in meters} == {"local"}  # the group var of meters
    # 126 addresses: 6 meters, 2 protected (no password given), 2 servers that are not meters, the rest dead.
    assert "126 address(es) probed: 6 meter, 116 no answer, 2 not a meter, 2 refused password" in proc.stdout
    assert PROTECTED_PASSWORD not in proc.stdout + proc.stderr


def test_protected_meters_are_found_with_the_password_and_shown_in_the_graph(world):
    path = write_config(world, password=PROTECTED_PASSWORD)
    proc = inventory(path, "--graph")
    graph = proc.stdout
    for name in {**ids(world["fleets"]["a"]), **ids(world["fleets"]["b"])}:
        assert f"--{name}" in graph
    assert "Shelly" not in graph and "127.0.70.4" not in graph
    data = load_inventory(inventory(path, "--list").stdout)
    assert len(data["meters"]["hosts"]) == 8
    protected = next(iter(ids(world["fleets"]["b"])))
    assert data["_meta"]["hostvars"][protected]["whatwatt_auth"] == "basic"  # firmware 1.9.0
    assert PROTECTED_PASSWORD not in json.dumps(data)


def test_names_survive_new_addresses(world):
    before = load_inventory(inventory(write_config(world), "--list").stdout)["_meta"]["hostvars"]
    fleet = world["fleets"].pop("a")
    fleet.stop()
    moved = EmulatorFleet(count=6, first_ip="127.0.70.101", id_first_ip="127.0.70.1", port=world["port"],
                          state_dir=os.path.join(world["base"], "emu-a"), report_interval=1).start()  # fmt: skip
    world["fleets"]["a"] = moved
    moved.devices[5].license_type = "FREE"  # the emulator does not keep a licence set at run time
    after = load_inventory(inventory(write_config(world), "--list").stdout)["_meta"]["hostvars"]
    assert sorted(after) == sorted(before)
    for name in before:
        assert after[name]["whatwatt_device_id"] == before[name]["whatwatt_device_id"]
        old, new = before[name]["ansible_host"], after[name]["ansible_host"]
        assert new == old.replace("127.0.70.", "127.0.70.10"), (name, old, new)


def test_site_provisions_the_discovered_ready_meters(world):
    inv = os.path.join(world["base"], "site-inventory")
    write_config(world, directory=inv, password=PROTECTED_PASSWORD)
    runner = Fleet(world["base"], [])
    runner.inventory_dir = inv
    with open(os.path.join(inv, "hosts.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump({"brokers": {"hosts": {"broker": {"ansible_connection": "local", "ansible_host": BROKER_IP}}}},
                       handle)  # fmt: skip
    os.makedirs(os.path.join(inv, "group_vars"))
    with open(os.path.join(inv, "group_vars", "all.yml"), "w", encoding="utf-8") as handle:
        yaml.safe_dump(dict(whatwatt_pki_dir=runner.pki_dir, whatwatt_broker_host=BROKER_IP,
                            whatwatt_password=PROTECTED_PASSWORD, whatwatt_report_interval=1,
                            whatwatt_verify_timeout=10), handle)  # fmt: skip
    ready = sorted(set(ids(world["fleets"]["a"])) - {f"whatwatt-{world['fleets']['a'].devices[5].device_id.lower()}"})
    ready += sorted(ids(world["fleets"]["b"]))
    with open(LOCK, "a") as lock:  # the machine's broker: one suite at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            proc = runner.playbook("site.yml", "--limit", "localhost,brokers,whatwatt_ready")
            assert proc.returncode == 0, show(proc)
            assert failed_hosts(proc) == [], show(proc)
            assert sorted(set(changed_hosts(proc)) & set(ready)) == sorted(ready), show(proc)
            again = runner.playbook("site.yml", "--limit", "localhost,brokers,whatwatt_ready")
            assert again.returncode == 0 and changed_hosts(again) == [], show(again)
            # Provisioned and connected: exactly the ready meters; the FREE one was left alone.
            for fleet in world["fleets"].values():
                for device in fleet.devices:
                    name = f"whatwatt-{device.device_id.lower()}"
                    assert device.mqtt_link.connected == (name in ready), name
        finally:
            runner.playbook("broker_stop.yml")
