# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity


class ModuleDocFragment(object):
    """The attributes every controller-side action plugin of the collection shares, with what each means (so a
    stub needs no other attributes fragment); a module's own values win."""

    DOCUMENTATION = r"""
attributes:
  action:
    description: Runs as an action plugin on the controller (the device plugins call the meters from there).
    support: full
  async:
    description: Can run with the C(async) keyword.
    support: none
  bypass_host_loop:
    description: Runs once for the play instead of once per host.
    support: none
  check_mode:
    description: Can run in check mode and say what would change without changing it.
  diff_mode:
    description: Returns what changed (or would change in check mode) when run with C(--diff).
  platform:
    description: The targets it can work on.
    support: N/A
    platforms: all
"""
