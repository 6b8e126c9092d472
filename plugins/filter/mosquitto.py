# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the mosquitto role: the decisions its tasks would otherwise make in Jinja (docs: <filter>.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import naming

_UPSTREAM = re.compile(r"^(?:\d+:)?(\d+(?:\.\d+)*)")


def upstream_version(debian_version):
    """``'2.0.21'`` of ``'2.0.21-1~bpo12+1'`` or ``'1:2.1.2-3'`` (epoch and Debian revision dropped)."""
    match = _UPSTREAM.match(debian_version or "")
    return match.group(1) if match else None


def _as_tuple(version):
    return tuple(int(part) for part in version.split("."))


def install_plan(dpkg_show, packages, min_version, package="mosquitto"):
    """What apt has to do, from ``dpkg-query --show --showformat='${Package}\\t${db:Status-Status}\\t${Version}\\n'``.

    Returns ``state``: ``None`` (every package installed, ``package`` at ``min_version`` or later: no apt run),
    ``present`` (some are missing: install them) or ``latest`` (``package`` is below ``min_version``: upgrade in
    place); ``missing``, the packages not installed; ``version``, the installed upstream version of ``package``.
    """
    if not isinstance(packages, (list, tuple)) or not packages:
        raise AnsibleFilterError("mosquitto_install_plan: packages must be a non-empty list")
    if upstream_version(str(min_version)) is None:
        raise AnsibleFilterError(f"mosquitto_install_plan: {min_version!r} is not a version (e.g. 2.0.21)")
    installed = {}
    for line in (dpkg_show or "").splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[1] == "installed":
            installed[fields[0].split(":")[0]] = fields[2]
    missing = [name for name in packages if name not in installed]
    version = upstream_version(installed.get(package))
    below = version is not None and _as_tuple(version) < _as_tuple(upstream_version(str(min_version)))
    state = "latest" if below else ("present" if missing else None)
    return dict(state=state, missing=missing, version=version)


def acl_problems(identities):
    """The problems of the client ids the broker ACL names (``naming.client_id_problems``), one line per bad id."""
    out = []
    for identity in identities or ():
        problems = naming.client_id_problems(identity)
        if problems:
            out.append("; ".join(problems))
    return out


class FilterModule:
    def filters(self):
        return {"mosquitto_install_plan": install_plan, "mosquitto_acl_problems": acl_problems}
