# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A plausible three-phase meter and the device's template variables.

Values change over time (a bounded random walk on power, energy integrated from power), so every
published message differs from the previous one.
"""

import datetime
import random
import re
import time

# Every variable of the vendor's template page (docs/30-mqtt/template.md), as the device knows them; the
# collection keeps its own list (device_template.py) so that the emulator can catch a mistake in it.
# Variables whose value is a number (substituted unquoted, ``null`` when missing).
NUMERIC = (
    "1_7_0", "2_7_0", "1_8_0", "2_8_0", "1_8_1", "1_8_2", "2_8_1", "2_8_2",
    "21_7_0", "41_7_0", "61_7_0", "22_7_0", "42_7_0", "62_7_0",
    "3_7_0", "4_7_0", "3_8_0", "4_8_0", "5_8_0", "6_8_0", "7_8_0", "8_8_0",
    "32_7_0", "52_7_0", "72_7_0", "31_7_0", "51_7_0", "71_7_0", "s31_7_0", "s51_7_0", "s71_7_0", "13_7_0",
    "timestamp", "tariff", "conv_factor", "wifi.sta.rssi", "plug.voltage.usb", "plug.voltage.p1", "plug.voltage.mbus",
)  # fmt: skip
# Text variables (substituted as is, empty string when missing).
TEXT = (
    "meter.date_time", "meter.id", "meter.type", "meter.vendor", "meter.model", "meter.interface", "meter.protocol",
    "meter.protocol_ver", "meter.status", "sys.id", "sys.name", "sys.firmware", "sys.date_time",
    "wifi.mode", "wifi.sta.status", "wifi.sta.ssid", "wifi.sta.ip", "eth.state", "eth.ip", "plug.interface",
)  # fmt: skip
ALIASES = {"power.in": "1_7_0", "power.out": "2_7_0", "energy.in": "1_8_0", "energy.out": "2_8_0"}

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def _fmt(value):
    if isinstance(value, int):
        return str(value)
    text = (f"{value:.3f}").rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


class Meter:
    """The meter attached to one emulated device."""

    def __init__(self, device_id, seed=None):
        self.rng = random.Random(seed if seed is not None else device_id)
        self.meter_id = f"{self.rng.randrange(10**8):08d}"
        self.power_in = self.rng.uniform(0.2, 3.0)
        self.power_out = 0.0
        self.energy_in = self.rng.uniform(1000.0, 20000.0)
        self.energy_out = self.rng.uniform(0.0, 2000.0)
        self.tariff_split = self.rng.uniform(0.3, 0.7)
        self.voltages = [230.0, 230.0, 230.0]
        self.last = time.time()
        self.present = True  # False: no meter data (the device then publishes nothing)

    def update(self, now=None):
        """Advance the simulation to ``now``."""
        now = time.time() if now is None else now
        dt = max(0.0, now - self.last)
        self.last = now
        self.energy_in += self.power_in * dt / 3600.0
        self.energy_out += self.power_out * dt / 3600.0
        self.power_in = min(11.0, max(0.05, self.power_in + self.rng.uniform(-0.25, 0.25)))
        # Some export around midday-like phases: small solar surplus, random.
        self.power_out = max(0.0, min(5.0, self.power_out + self.rng.uniform(-0.2, 0.2)))
        self.voltages = [min(245.0, max(215.0, v + self.rng.uniform(-1.0, 1.0))) for v in self.voltages]

    def values(self, device, now=None):
        """Every template variable: name -> number, str, or None when absent."""
        now = time.time() if now is None else now
        stamp = datetime.datetime.fromtimestamp(now, datetime.UTC)
        # meter.date_time and sys.date_time are local time (ISO 8601 without a zone, as the vendor documents).
        local = stamp + datetime.timedelta(hours=device.options.utc_offset)
        iso = local.strftime("%Y-%m-%dT%H:%M:%S")
        shares = (0.4, 0.35, 0.25)
        vals = {
            "1_7_0": round(self.power_in, 3),
            "2_7_0": round(self.power_out, 3),
            "1_8_0": round(self.energy_in, 3),
            "2_8_0": round(self.energy_out, 3),
            "1_8_1": round(self.energy_in * self.tariff_split, 3),
            "1_8_2": round(self.energy_in * (1 - self.tariff_split), 3),
            "2_8_1": round(self.energy_out * self.tariff_split, 3),
            "2_8_2": round(self.energy_out * (1 - self.tariff_split), 3),
            "13_7_0": round(0.9 + 0.09 * self.rng.random(), 3),
            "timestamp": int(now),
            "tariff": 1 if stamp.hour < 22 and stamp.hour >= 6 else 2,
            "meter.date_time": iso,
            "meter.id": self.meter_id,
            "meter.vendor": "Landis+Gyr",
            "meter.model": "E450",
            "meter.status": "OK",
            "meter.type": "LGZ1030784855204",
            "meter.interface": "MBUS",
            "meter.protocol": "DLMS",
            "meter.protocol_ver": "",
            "3_7_0": round(self.power_in * 0.12, 3),
            "4_7_0": 0.0,
            "3_8_0": round(self.energy_in * 0.05, 3),
            "4_8_0": round(self.energy_out * 0.05, 3),
            "5_8_0": None,  # quadrant energies: this meter does not send them (null, as the device does)
            "6_8_0": None,
            "7_8_0": None,
            "8_8_0": None,
            "conv_factor": 1,
            "wifi.mode": "sta",
            "wifi.sta.status": "ok",
            "wifi.sta.ssid": "emulated",
            "eth.state": "down",
            "plug.interface": "MBUS",
            "plug.voltage.usb": 5.12,
            "plug.voltage.p1": 0.0,
            "plug.voltage.mbus": 13.9,
            "sys.id": device.device_id,
            "sys.name": device.system["system"]["name"],
            "sys.firmware": device.firmware,
            "sys.date_time": iso,
            "wifi.sta.ip": device.ip,
            "wifi.sta.rssi": -40 - int(self.rng.random() * 30),
            "eth.ip": None,  # no Ethernet: a missing text variable
        }
        for i, (pin, pout, volt, cur) in enumerate(
            (("21_7_0", "22_7_0", "32_7_0", "31_7_0"), ("41_7_0", "42_7_0", "52_7_0", "51_7_0"),
             ("61_7_0", "62_7_0", "72_7_0", "71_7_0"))
        ):  # fmt: skip
            vals[pin] = round(self.power_in * shares[i], 3)
            vals[pout] = round(self.power_out * shares[i], 3)
            vals[volt] = round(self.voltages[i], 1)
            vals[cur] = round(vals[pin] * 1000.0 / self.voltages[i], 3)
            vals["s" + cur] = round((vals[pin] - vals[pout]) * 1000.0 / self.voltages[i], 3)
        return vals


def lookup(values, name):
    """(known, value) for a variable name, following aliases."""
    name = ALIASES.get(name, name)
    if name in values:
        return True, values[name]
    return False, None


def render(template, values):
    """Render a publish template with the documented substitution rules."""

    def sub(match):
        name = match.group(1)
        canonical = ALIASES.get(name, name)
        if canonical not in values:
            return match.group(0)  # unknown name stays literally
        value = values[canonical]
        if canonical in NUMERIC:
            return "null" if value is None else _fmt(value)
        return "" if value is None else str(value)

    return _PLACEHOLDER.sub(sub, template)


def variables_list(values):
    """The ``/api/v1/variables`` body: one-key objects, every value a string, ``"null"`` when absent."""
    out = []
    for name in NUMERIC + TEXT:
        value = values.get(name)
        if value is None:
            text = "null"
        elif name in NUMERIC:
            text = _fmt(value)
        else:
            text = str(value)
        out.append({name: text})
    return out
