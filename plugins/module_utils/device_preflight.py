# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pre-flight of one meter, from one ``GET /api/v1/system``, before anything is sent to it.

What the vendor names as prerequisites of secure MQTT: firmware 1.7.6 or later, a licence with the MQTT
client (PLUS or PRO, not FREE), and a clock inside the validity of the certificates the meter will use (a meter
whose clock is wrong cannot validate the broker's certificate). A meter that fails is refused with a message
naming it, what it reports and what to do; the rest of the batch goes on.
"""

from __future__ import absolute_import, division, print_function


import datetime

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_certs import not_after, not_before
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_verify import LICENSES_WITH_MQTT
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    MIN_FIRMWARE,
    WhatWattError,
    firmware_at_least,
)

# The meter reports its clock in its local time zone, without saying which: any offset up to UTC+14 / UTC-12
# must pass, so only a clock wrong by more than that is refused.
TIMEZONE_SLACK = datetime.timedelta(hours=14)
_UTC = datetime.timezone.utc  # noqa: UP017 - module_utils may load on Pythons older than 3.11


def _dig(obj, *path):
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def device_clock(system):
    """The meter's clock (``device.date`` + ``device.time``, its local time) as a naive datetime, or None."""
    date, time_ = _dig(system, "device", "date"), _dig(system, "device", "time")
    if not date or not time_:
        return None
    try:
        return datetime.datetime.strptime(f"{date} {time_}", "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return None


def identity_problems(system):
    """Firmware and licence problems (without the meter's name), each saying what to do."""
    problems = []
    firmware = _dig(system, "device", "firmware")
    try:
        too_old = not firmware or not firmware_at_least(firmware, MIN_FIRMWARE)
    except ValueError:
        too_old = True
    if too_old:
        problems.append(
            f"firmware {firmware} is below {MIN_FIRMWARE}, the first with secure MQTT: update the meter's firmware"
            " (Web UI > System > Firmware update) and run again"
        )
    license_type = _dig(system, "device", "license", "type")
    if str(license_type or "").upper() == "FREE":
        problems.append(
            f"licence FREE has no MQTT client (it needs {' or '.join(LICENSES_WITH_MQTT)}): upgrade the meter's"
            " licence and run again"
        )
    return problems


def validity_window(certs):
    """``(not_before, not_after)`` (aware, UTC) in which every certificate the meter uses is valid, or None.

    The CA bundle counts as valid while any of its CAs is (during a rollover one of them suffices); the client
    certificate must be valid as well.
    """
    if certs is None:
        return None
    windows = []
    if certs.ca_certs:
        windows.append((min(not_before(c) for c in certs.ca_certs), max(not_after(c) for c in certs.ca_certs)))
    if certs.cert is not None:
        windows.append((not_before(certs.cert), not_after(certs.cert)))
    if not windows:
        return None
    return max(w[0] for w in windows), min(w[1] for w in windows)


def clock_problems(system, window):
    """A problem when the meter's clock is outside ``window`` by more than any time zone explains."""
    clock = device_clock(system)
    if clock is None or window is None:
        return []
    as_utc = clock.replace(tzinfo=_UTC)
    start, end = window
    if start - TIMEZONE_SLACK <= as_utc <= end + TIMEZONE_SLACK:
        return []
    return [
        f"device clock {clock:%Y-%m-%d %H:%M:%S} (its local time) is outside the validity of the certificates it"
        f" will use ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC), so it could not validate the"
        " broker: let the meter set its clock (it needs internet access for NTP: check its Wi-Fi, gateway and"
        " DNS) and run again"
    ]


def preflight(client, certs):
    """``GET /api/v1/system`` of ``client``'s meter and every check; raises WhatWattError naming the meter."""
    system = client.system()
    problems = identity_problems(system) + clock_problems(system, validity_window(certs))
    if problems:
        raise WhatWattError(
            "{}: refused before anything was sent: {}".format(client.label, "; ".join(problems)),
            call="GET /api/v1/system",
            device=client.name,
        )
    return system
