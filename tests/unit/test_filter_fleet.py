"""plugins/filter/fleet.py: the fleet-wide decisions the roles and playbooks used to make in Jinja loops."""

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.whatwatt.secure_mqtt.plugins.filter.fleet import (
    FilterModule,
    broker_certificates,
    meter_client_ids,
    pki_problems,
    report_batches,
    revoked_meters,
)

HOSTVARS = {
    "meter-1": {"whatwatt_client_id": "whatwatt-001"},
    "meter-2": {},
    "meter-3": {"whatwatt_client_id": "whatwatt-003", "whatwatt_revoked": "yes"},
    "meter-4": {"whatwatt_revoked": False},
    "broker1": {"ansible_host": "192.0.2.10"},
    "broker2": {},
}


def test_a_meter_is_its_client_id_or_its_inventory_name():
    assert meter_client_ids(["meter-1", "meter-2", "meter-3"], HOSTVARS) == ["whatwatt-001", "meter-2", "whatwatt-003"]
    assert meter_client_ids([], HOSTVARS) == []
    with pytest.raises(AnsibleFilterError, match="'nobody' is not a host"):
        meter_client_ids(["nobody"], HOSTVARS)


def test_revoked_is_marked_in_the_inventory_or_listed_by_the_crl():
    pki = {"crl": {"revoked": [{"name": "whatwatt-001", "serial": "0A"}]}}
    hosts = ["meter-1", "meter-2", "meter-3", "meter-4"]
    assert revoked_meters(hosts, HOSTVARS, pki) == ["meter-1", "meter-3"]
    assert revoked_meters(hosts, HOSTVARS) == ["meter-3"]  # no PKI read: only the inventory marks
    assert revoked_meters(hosts, HOSTVARS, {"crl": {}}) == ["meter-3"]


def test_broker_names_are_split_into_dns_names_and_ip_addresses():
    out = broker_certificates(["broker1", "broker2"], HOSTVARS, "mqtt.example.net")
    assert out == [
        dict(name="broker1", dns_names=["broker1", "mqtt.example.net"], ip_addresses=["192.0.2.10"]),
        dict(name="broker2", dns_names=["broker2", "mqtt.example.net"], ip_addresses=[]),
    ]
    out = broker_certificates(["broker2"], {"broker2": {"ansible_host": "2001:db8::1"}}, "127.0.0.1")
    assert out == [dict(name="broker2", dns_names=["broker2"], ip_addresses=["2001:db8::1", "127.0.0.1"])]
    # not an address: 999.1.1.1 is a (bad) name, left to the PKI's DNS-name check
    assert broker_certificates(["b"], {"b": {"ansible_host": "999.1.1.1"}})[0]["dns_names"] == ["b", "999.1.1.1"]


def test_pki_problems_name_what_is_due():
    leaf = dict(changed=False, revoked=False, reasons=[], days_left=300)
    pki = dict(
        ca=dict(changed=True, reasons=["absent"]),
        crl=dict(changed=True, reasons=["next update in 3 days"]),
        servers={"broker1": dict(leaf, changed=True, reasons=["expires in 20 days"], days_left=20)},
        clients={
            "b": dict(leaf),
            "a": dict(leaf, changed=True, reasons=["absent"], days_left=None),
            "gone": dict(leaf, changed=True, revoked=True),
        },  # fmt: skip
    )
    assert pki_problems(pki) == [
        "the CA would change: absent",
        "the CRL is due: next update in 3 days",
        "servers/broker1 is due (expires in 20 days, 20 days left)",
        "clients/a is due (absent, None days left)",
    ]
    current = dict(ca=dict(changed=False), crl=dict(changed=False), servers={"x": leaf}, clients={})
    assert pki_problems(current) == []


def test_every_filter_is_registered_and_documented_beside_it():
    from ansible_collections.whatwatt.secure_mqtt.plugins.filter import fleet

    names = FilterModule().filters()
    assert set(names) == {"meter_client_ids", "revoked_meters", "broker_certificates", "pki_problems", "report_batches"}
    for name in names:
        with open(os.path.join(os.path.dirname(fleet.__file__), name + ".yml"), encoding="utf-8") as handle:
            assert yaml.safe_load(handle)["DOCUMENTATION"]["name"] == name


class CountingHostvars(dict):
    """hostvars that count lookups: each one computes a host's variables in Ansible."""

    def __init__(self, *args):
        super().__init__(*args)
        self.lookups = 0

    def __getitem__(self, key):
        self.lookups += 1
        return super().__getitem__(key)


def test_each_host_s_variables_are_computed_once():
    hostvars = CountingHostvars(HOSTVARS)
    revoked_meters(["meter-1", "meter-2", "meter-3", "meter-4"], hostvars, {"crl": {"revoked": []}})
    assert hostvars.lookups == 4


def _batches(hosts, serial):
    """The batches ansible-playbook makes of ``hosts`` with ``serial`` (executor/playbook_executor.py: the last
    size repeats, a size <= 0 takes all that are left, no sizes is one batch)."""
    hosts, out, item = list(hosts), [], 0
    serial = serial or [-1]
    while hosts:
        size = int(serial[min(item, len(serial) - 1)])
        if size <= 0:
            out.append(hosts)
            break
        out.append(hosts[:size])
        hosts = hosts[size:]
        item += 1
    return out


@pytest.mark.parametrize(
    "failed, expected",
    [
        ((), [3, 3, 3, 0]),
        (range(10), [0]),  # all failed: one batch, as without batches
        (range(7), [8, 0]),  # the first batch reaches its first meter that did not fail
        (range(3, 10), [0]),  # only failed meters after the first batch: one batch
        (range(2, 6), [3, 4, 0]),
        ((0, 1, 2, 9), [4, 3, 0]),
    ],
)
def test_report_batches_never_hold_only_failed_meters_but_the_last(failed, expected):
    hosts = [f"m{index}" for index in range(10)]
    failed = [hosts[index] for index in failed]
    serial = report_batches(hosts, failed, 3)
    assert serial == expected
    batches = _batches(hosts, serial)
    assert [host for batch in batches for host in batch] == hosts
    assert all(set(batch) - set(failed) for batch in batches[:-1])
    assert len(batches) == 1 or set(batches[-1]) - set(failed)


def test_report_batches_of_a_large_queue_are_bounded_and_without_batches_when_asked():
    hosts = [f"m{index}" for index in range(10000)]
    failed = hosts[::3]  # every third meter failed
    batches = _batches(hosts, report_batches(hosts, failed, 250))
    assert max(map(len, batches)) <= 250 and len(batches) == 40
    assert report_batches(hosts, failed, 0) == [] and report_batches([], [], 250) == []
    assert _batches(hosts, report_batches(hosts, failed, 0)) == [hosts]


def test_the_preflight_s_reading_spares_the_hostvars_lookups():
    inventory = dict(client_ids={"meter-1": "whatwatt-001", "meter-3": "whatwatt-003"}, revoked=["meter-3"])
    hostvars = CountingHostvars(HOSTVARS)
    assert meter_client_ids(["meter-1", "meter-2", "meter-3"], hostvars, inventory) == [
        "whatwatt-001",
        "meter-2",
        "whatwatt-003",
    ]
    assert hostvars.lookups == 1  # meter-2 only: the preflight did not read it
    pki = {"crl": {"revoked": [{"name": "whatwatt-001"}]}}
    assert revoked_meters(["meter-1", "meter-3", "meter-4"], hostvars, pki, inventory) == ["meter-1", "meter-3"]
    assert hostvars.lookups == 2  # meter-4
    # the same answers as from hostvars alone
    assert revoked_meters(["meter-1", "meter-3", "meter-4"], HOSTVARS, pki) == ["meter-1", "meter-3"]
