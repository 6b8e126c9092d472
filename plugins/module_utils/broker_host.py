# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the mosquitto role needs to know of a broker host, read in one module call (mosquitto_info).

The release (``/etc/os-release``: Debian 12 needs bookworm-backports), what apt has to do for the packages
(``dpkg-query``), the Mosquitto version (``mosquitto -h``), where the acl-file plugin is on 2.1+ (the package's
file list) and whether systemd runs. Each used to be a task of its own (a module run each); the decisions are
plain functions here, unit-tested in ``tests/unit/test_broker_host.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import re

DPKG_FORMAT = "${Package}\t${db:Status-Status}\t${Version}\n"
# First release whose plugins moved into a subdirectory (Debian: /usr/lib/<triplet>/mosquitto/).
PLUGIN_DIR_VERSION = "2.1.0"

_UPSTREAM = re.compile(r"^(?:\d+:)?(\d+(?:\.\d+)*)")
_HELP_VERSION = re.compile(r"mosquitto version ([0-9]+[.][0-9]+[.][0-9]+)")
_ACL_PLUGIN = re.compile(r"^/.*/mosquitto_acl_file[.]so$")


class BrokerHostError(Exception):
    """Bad input (the message names it)."""


def upstream_version(debian_version):
    """``'2.0.21'`` of ``'2.0.21-1~bpo12+1'`` or ``'1:2.1.2-3'`` (epoch and Debian revision dropped)."""
    match = _UPSTREAM.match(debian_version or "")
    return match.group(1) if match else None


def version_tuple(version):
    return tuple(int(part) for part in version.split("."))


def install_plan(dpkg_show, packages, min_version, package="mosquitto"):
    """What apt has to do, from ``dpkg-query --show --showformat=DPKG_FORMAT PACKAGES``.

    Returns ``state``: ``None`` (every package installed, ``package`` at ``min_version`` or later: no apt run),
    ``present`` (some are missing: install them) or ``latest`` (``package`` is below ``min_version``: upgrade in
    place); ``missing``, the packages not installed; ``version``, the installed upstream version of ``package``.
    """
    if not isinstance(packages, (list, tuple)) or not packages:
        raise BrokerHostError("packages must be a non-empty list")
    if upstream_version(str(min_version)) is None:
        raise BrokerHostError(f"{min_version!r} is not a version (e.g. 2.0.21)")
    installed = {}
    for line in (dpkg_show or "").splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[1] == "installed":
            installed[fields[0].split(":")[0]] = fields[2]
    missing = [name for name in packages if name not in installed]
    version = upstream_version(installed.get(package))
    below = version is not None and version_tuple(version) < version_tuple(upstream_version(str(min_version)))
    state = "latest" if below else ("present" if missing else None)
    return dict(state=state, missing=missing, version=version)


def parse_os_release(text):
    """The ``KEY=value`` pairs of an os-release file (quotes removed)."""
    out = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def is_debian_bookworm(os_release):
    """Debian 12, whose main archive has Mosquitto 2.0.11 (bookworm-backports has 2.0.21+)."""
    return os_release.get("ID") == "debian" and os_release.get("VERSION_ID") == "12"


def help_version(text):
    """The version ``mosquitto -h`` prints (``mosquitto version 2.0.21``), or None (not installed)."""
    match = _HELP_VERSION.search(text or "")
    return match.group(1) if match else None


def acl_plugin_path(listfiles):
    """The acl-file plugin among the package's files (``dpkg-query --listfiles mosquitto``), or ``''``."""
    return next((line.strip() for line in (listfiles or "").splitlines() if _ACL_PLUGIN.match(line.strip())), "")


def inspect(run, read_text, is_dir, which, packages, min_version, acl_plugin=""):
    """Everything the role reads of the host. ``run(argv) -> (rc, stdout, stderr)``; ``read_text(path)`` (None
    when absent); ``is_dir(path)``; ``which(name)`` (the program's path or None). ``acl_plugin``: the user's path
    (then the package's file list is not read).

    ``version`` is None when Mosquitto is not installed (the role's check mode then stops: a check run cannot know
    what the install would bring).
    """
    os_release = parse_os_release(read_text("/etc/os-release") or read_text("/usr/lib/os-release") or "")
    dpkg_query = which("dpkg-query")
    if dpkg_query is None:
        raise BrokerHostError("dpkg-query not found: the mosquitto role manages Debian and its derivatives")
    rc, out, err = run([dpkg_query, "--show", f"--showformat={DPKG_FORMAT}", *packages])
    if rc > 1:
        raise BrokerHostError(f"dpkg-query --show failed (rc {rc}): {(err or out).strip()}")
    plan = install_plan(out, packages, min_version)
    version, binary = None, which("mosquitto")
    if binary is not None:
        out, err = run([binary, "-h"])[1:]  # exits non-zero after its usage text
        version = help_version(out) or help_version(err)
    plugin = acl_plugin or ""
    if version and version_tuple(version) >= version_tuple(PLUGIN_DIR_VERSION) and not plugin:
        rc, out = run([dpkg_query, "--listfiles", "mosquitto"])[:2]
        plugin = acl_plugin_path(out) if rc == 0 else ""
    return dict(
        os_release={key: os_release[key] for key in ("ID", "VERSION_ID", "VERSION_CODENAME") if key in os_release},
        debian_bookworm=is_debian_bookworm(os_release),
        install_plan=plan,
        version=version,
        acl_plugin=plugin,
        systemd=bool(is_dir("/run/systemd/system")),
    )
