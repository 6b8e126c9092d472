# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""device_fleet refuses client ids that would displace another session once the broker binds the client id to
the certificate identity (issue 14): two meters sharing an id, a meter given a reader identity."""

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_fleet as df
from tests.unit.device_fleet_helpers import NAMES, fleet_options, run

READERS = ["whatwatt-monitor", "whatwatt-verify", "whatwatt-watch"]


def test_two_meters_sharing_a_client_id_are_both_refused_naming_each_other(pki_dir, tmp_path):
    fleet = fleet_options(pki_dir, tmp_path, [], monitor_identities=READERS)
    entries = [
        dict(name="a", topic="t/a", client_id="shared-id"),
        dict(name="b", topic="t/b", client_id="shared-id"),
        dict(name="c", topic="t/c"),
    ]
    order, inputs, problems = df.batch_inputs(entries, fleet)
    assert order == ["a", "b", "c"]
    assert sorted(inputs) == ["c"]
    assert problems["a"] == [
        "a: shares the client id shared-id with b: one would displace the other's session on the broker"
    ]
    assert problems["b"] == [
        "b: shares the client id shared-id with a: one would displace the other's session on the broker"
    ]


def test_a_meter_whose_client_id_defaults_to_another_meters_id_is_refused(pki_dir, tmp_path):
    fleet = fleet_options(pki_dir, tmp_path, [])
    # b's client id defaults to its name, which a chose explicitly.
    order, inputs, problems = df.batch_inputs(
        [dict(name="a", topic="t/a", client_id="b"), dict(name="b", topic="t/b")], fleet
    )
    assert inputs == {} and "with b" in problems["a"][0] and "with a" in problems["b"][0]


def test_a_meter_with_a_reader_identity_is_refused(pki_dir, tmp_path):
    fleet = fleet_options(pki_dir, tmp_path, [], monitor_identities=READERS)
    entries = [dict(name=f"m{n}", topic=f"t/{n}", client_id=reader) for n, reader in enumerate(READERS)]
    entries.append(dict(name="ok", topic="t/ok"))
    unused_order, inputs, problems = df.batch_inputs(entries, fleet)
    assert sorted(inputs) == ["ok"]
    for n, reader in enumerate(READERS):
        assert len(problems[f"m{n}"]) == 1
        assert problems[f"m{n}"][0].startswith(f"m{n}: client id {reader} is a reader identity")


def test_without_reader_identities_only_duplicates_are_refused(pki_dir, tmp_path):
    fleet = fleet_options(pki_dir, tmp_path, [])
    unused_order, inputs, problems = df.batch_inputs([dict(name="m", topic="t/m", client_id="whatwatt-monitor")], fleet)
    assert sorted(inputs) == ["m"] and problems == {}


def test_refused_meters_are_never_contacted_and_the_rest_is_pushed(pki_dir, tmp_path, devices):
    options = fleet_options(pki_dir, tmp_path / "rec", devices, monitor_identities=READERS)
    options["devices"][1]["client_id"] = NAMES[0]  # fleet-1 claims fleet-0's id
    options["devices"][2]["client_id"] = "whatwatt-watch"
    result = run(options)
    assert result["failed_devices"] == [NAMES[0], NAMES[1], NAMES[2]]
    assert result["changed_devices"] == [NAMES[3]]
    assert f"shares the client id {NAMES[0]} with {NAMES[1]}" in result["devices"][NAMES[0]]["msg"]
    assert f"shares the client id {NAMES[0]} with {NAMES[0]}" in result["devices"][NAMES[1]]["msg"]
    assert "whatwatt-watch is a reader identity" in result["devices"][NAMES[2]]["msg"]
    assert [dev.calls() for dev in devices[:3]] == [[], [], []]
    assert devices[3].calls() != []
