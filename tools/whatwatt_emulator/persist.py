# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-device state files, written with the collection's own atomic writer."""

import importlib.util
import json
import os

try:
    from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.atomic import ensure_dir, write_atomic
except ImportError:  # run as ``PYTHONPATH=tools python -m whatwatt_emulator`` from the checkout
    _PATH = os.path.join(os.path.dirname(__file__), "..", "..", "plugins", "module_utils", "atomic.py")
    _SPEC = importlib.util.spec_from_file_location("_whatwatt_atomic", os.path.abspath(_PATH))
    _MOD = importlib.util.module_from_spec(_SPEC)
    _SPEC.loader.exec_module(_MOD)
    ensure_dir, write_atomic = _MOD.ensure_dir, _MOD.write_atomic


def load_state(path):
    """The saved state dict, or None when there is none (a device fresh from the factory)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def save_state(path, state):
    """Write the state (0600: it holds the device's key, as the device's flash does)."""
    write_atomic(path, json.dumps(state, indent=1, sort_keys=True) + "\n", mode=0o600)


__all__ = ["ensure_dir", "load_state", "save_state"]
