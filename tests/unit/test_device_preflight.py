# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pre-flight of a meter (firmware, licence, clock from one GET /api/v1/system) and its place in the batch:
a refused meter gets no request but that GET, the rest of the batch goes on. Fake meters on 127.0.30.150-153."""

import datetime

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_preflight as pf
from harness.fake_device import FakeDevice
from tests.unit.device_fleet_helpers import IPS, NAMES, fleet_options, run

UTC = datetime.timezone.utc  # noqa: UP017
WINDOW = (datetime.datetime(2026, 1, 1, tzinfo=UTC), datetime.datetime(2027, 1, 1, tzinfo=UTC))


def system(firmware="1.10.2", license_type="PLUS", date="2026-06-01", time="12:00:00"):
    return {"device": {"firmware": firmware, "license": {"type": license_type}, "date": date, "time": time}}


@pytest.mark.parametrize(
    ("firmware", "refused"), [("1.7.5", True), ("1.7.6", False), ("1.10.2", False), ("1.6", True), ("", True)]
)
def test_firmware_below_1_7_6_is_refused(firmware, refused):
    problems = pf.identity_problems(system(firmware=firmware))
    assert bool(problems) is refused
    if refused:
        assert "is below 1.7.6" in problems[0] and "update the meter's firmware" in problems[0]


@pytest.mark.parametrize(("license_type", "refused"), [("FREE", True), ("free", True), ("PLUS", False), ("PRO", False)])
def test_a_free_licence_is_refused(license_type, refused):
    problems = pf.identity_problems(system(license_type=license_type))
    assert bool(problems) is refused
    if refused:
        assert problems == [
            "licence FREE has no MQTT client (it needs PLUS or PRO): upgrade the meter's licence and run again"
        ]


@pytest.mark.parametrize(
    ("date", "time", "refused"),
    [
        ("2026-06-01", "12:00:00", False),
        ("2025-12-31", "13:00:00", False),  # 11 h before not_before: a time zone explains it
        ("2025-12-31", "06:00:00", True),  # 18 h before
        ("1970-01-01", "00:00:42", True),  # no NTP since boot
        ("2027-01-01", "10:00:00", False),
        ("2027-01-02", "16:00:00", True),
    ],
)
def test_a_clock_outside_the_certificates_validity_is_refused(date, time, refused):
    problems = pf.clock_problems(system(date=date, time=time), WINDOW)
    assert bool(problems) is refused
    if refused:
        assert f"device clock {date} {time} (its local time) is outside the validity" in problems[0]
        assert "2026-01-01 00:00 to 2027-01-01 00:00 UTC" in problems[0] and "NTP" in problems[0]


def test_an_unreported_clock_is_not_refused():
    assert pf.clock_problems({"device": {}}, WINDOW) == []
    assert pf.clock_problems(system(date="soon"), WINDOW) == []
    assert pf.clock_problems(system(), None) == []


def test_refused_meters_are_not_touched_and_the_rest_proceeds(pki_dir, tmp_path):
    devs = [
        FakeDevice(address=IPS[0]),
        FakeDevice(address=IPS[1], firmware="1.7.5"),
        FakeDevice(address=IPS[2], license_type="FREE"),
        FakeDevice(address=IPS[3]),
    ]
    devs[3].system["device"].update(date="1970-01-01", time="00:01:00")
    for dev in devs:
        dev.__enter__()
    try:
        result = run(fleet_options(pki_dir, tmp_path, devs))
        assert result["changed_devices"] == [NAMES[0]]
        assert result["failed_devices"] == NAMES[1:]
        out = result["devices"]
        assert out[NAMES[1]]["msg"].startswith(
            f"{NAMES[1]} ({IPS[1]}): refused before anything was sent: firmware 1.7.5"
        )
        assert "licence FREE has no MQTT client" in out[NAMES[2]]["msg"] and NAMES[2] in out[NAMES[2]]["msg"]
        assert "device clock 1970-01-01 00:01:00" in out[NAMES[3]]["msg"] and NAMES[3] in out[NAMES[3]]["msg"]
        for dev in devs[1:]:
            assert [c[:2] for c in dev.calls()] == [("GET", "/api/v1/system")]  # nothing else, nothing sent
            assert dev.mqtt["enable"] is False
        assert devs[0].mqtt["enable"] is True  # the good meter was provisioned
    finally:
        for dev in devs:
            dev.__exit__(None, None, None)
