# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a run needs from the inventory, checked before anything is written (controller only).

Every play of site.yml reads variables another play does not: the PKI play ``whatwatt_pki_dir``, the broker play
the same directory, the meters ``whatwatt_broker_host``. Checking them all up front means a missing variable
fails the run with one message naming it, before a CA exists anywhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import os

from ansible.module_utils.parsing.convert_bool import boolean

# Variables every meter needs (the device role's required options) and why.
METER_REQUIRED = (
    ("whatwatt_broker_host", "the broker address the meters are given (it is in the broker certificate)"),
)
MAX_NAMED = 5


def collection_root_of(path):
    """The directory of the collection that holds ``path`` (a file of this collection), resolved."""
    here = os.path.realpath(path)
    # plugins/<kind>/<file> -> the collection root
    return os.path.dirname(os.path.dirname(os.path.dirname(here)))


def is_installed_collection(root):
    """An installed collection has MANIFEST.json; a development checkout has galaxy.yml instead."""
    return os.path.isfile(os.path.join(root, "MANIFEST.json"))


def _inside(path, root):
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def check_pki_dir(pki_dir, collection_root=None):
    """Errors for the controller's PKI directory: it must be set, absolute, and outside an installed collection
    (which ``ansible-galaxy collection install`` replaces on every upgrade, CA key included)."""
    if pki_dir is None or (isinstance(pki_dir, str) and not pki_dir.strip()):
        return [
            "whatwatt_pki_dir is not set: set it (group_vars/all) to a directory on the controller that you back up;"
            " it will hold the CA key. Nothing has been written."
        ]
    if not isinstance(pki_dir, str):
        return [f"whatwatt_pki_dir must be a path, not {type(pki_dir).__name__}"]
    path = os.path.expanduser(pki_dir)
    if not os.path.isabs(path):
        return [f"whatwatt_pki_dir {pki_dir!r} is relative: give an absolute path (it must not depend on the playbook)"]
    if collection_root and is_installed_collection(collection_root) and _inside(path, collection_root):
        return [
            f"whatwatt_pki_dir {pki_dir!r} is inside the installed collection {collection_root}, which is replaced on"
            " every upgrade: choose a directory of your own"
        ]
    return []


def client_id_of(host, host_vars):
    """A meter's client id: its ``whatwatt_client_id``, else its inventory name (the device role's default)."""
    return host_vars.get("whatwatt_client_id", host) or host


def marked_revoked(host_vars):
    """Whether a meter is marked revoked in the inventory (``whatwatt_revoked``, written by revoke.yml)."""
    return boolean(host_vars.get("whatwatt_revoked", False), strict=False)


def check_meters(meters, hostvars, required=METER_REQUIRED):
    """``(errors, inventory)``: errors for variables every meter needs, one per variable, naming up to MAX_NAMED
    meters that lack it; and what later plays read of every meter, taken in the same pass (``hostvars[name]``
    computes a meter's variables: 0.5 ms each, 5 s for 10,000 meters, so a run takes it once):
    ``client_ids`` (meter -> client id) and ``revoked`` (the meters marked revoked)."""
    missing = {entry[0]: [] for entry in required}
    client_ids, revoked = {}, []
    for name in meters:
        host_vars = hostvars.get(name, {})
        for var, _why in required:
            if _unset(host_vars.get(var)):
                missing[var].append(name)
        client_ids[name] = client_id_of(name, host_vars)
        if marked_revoked(host_vars):
            revoked.append(name)
    errors = []
    for var, why in required:
        if missing[var]:
            named = ", ".join(missing[var][:MAX_NAMED])
            if len(missing[var]) > MAX_NAMED:
                named += f" and {len(missing[var]) - MAX_NAMED} more"
            errors.append(f"{var} is not set for {len(missing[var])} meter(s) ({named}): {why}")
    return errors, dict(client_ids=client_ids, revoked=revoked)


def _unset(value):
    return value is None or (isinstance(value, str) and not value.strip())


def preflight(pki_dir, meters, hostvars, collection_root=None):
    """``(errors, inventory)``: every error of the inventory a run would hit, before it writes anything, and what
    later plays read of every meter (``check_meters``)."""
    errors, inventory = check_meters(meters, hostvars)
    return check_pki_dir(pki_dir, collection_root) + errors, inventory
