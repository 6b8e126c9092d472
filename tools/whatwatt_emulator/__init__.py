# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""WhatWatt Go device emulator: the REST API and MQTT client of many meters in one process.

Python API for tests::

    from whatwatt_emulator import Fleet
    fleet = Fleet(count=3, first_ip="127.0.20.1", port=18080, state_dir=tmp_path)
    fleet.start()
    try:
        dev = fleet.devices[0]          # Device: .ip, .port, .device_id, .settings, .mqtt_connected, .snapshot()
    finally:
        fleet.stop()
"""

from .addressing import device_id_for_ip, ip_range
from .device import Device, DeviceOptions
from .fleet import Fleet

__all__ = ["Device", "DeviceOptions", "Fleet", "device_id_for_ip", "ip_range"]
__version__ = "1.0.0"
