# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Loopback addresses and deterministic device identities."""

import ipaddress

# An Espressif-like prefix: the device id is a MAC-style 12 hex digit string.
ID_PREFIX = "A842E1"


def ip_range(first_ip, count):
    """Return ``count`` addresses counting up from ``first_ip``, skipping .0 and .255 last octets."""
    addr = ipaddress.IPv4Address(first_ip)
    out = []
    while len(out) < count:
        last = int(addr) & 0xFF
        if last not in (0, 255):
            if not addr.is_loopback:
                raise ValueError(f"emulated devices must use loopback addresses (127.0.0.0/8), got {addr}")
            out.append(str(addr))
        addr = addr + 1
    return out


def device_id_for_ip(ip):
    """12 upper-case hex digits derived from the address (unique within 127.0.0.0/8)."""
    packed = ipaddress.IPv4Address(ip).packed
    return ID_PREFIX + f"{packed[1]:02X}{packed[2]:02X}{packed[3]:02X}"


def hostname_for_id(device_id):
    """The device's default ``system.host_name``: ``whatwatt_`` + the last 6 hex digits of its id (the vendor's)."""
    return "whatwatt_" + device_id[-6:]
