# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Finding WhatWatt Go meters on the networks an inventory names (controller only).

Each address gets one ``GET /api/v1/system`` through the collection's device client (Basic or Digest as the
meter asks, no retries: an address that does not answer is simply not a meter). What answers as a WhatWatt Go
(``device.model`` ``WW_Go_*``) becomes one meter, named by its device id, so the name survives a new address.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import concurrent.futures
import ipaddress

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_preflight import identity_problems
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    WhatWattClient,
    WhatWattError,
    device_facts,
)

MODEL_PREFIX = "WW_Go"
MAX_ADDRESSES = 65536
# Outcomes of one probe, in the order the summary lists them.
OUTCOMES = ("meter", "no_answer", "not_a_meter", "refused_password", "error")


def expand_networks(networks, max_addresses=MAX_ADDRESSES):
    """Addresses of ``networks`` (CIDRs or single addresses), in order, without duplicates.

    A network's own and broadcast addresses are left out (``/31`` and ``/32`` keep theirs). Raises ValueError
    naming the entry that cannot be parsed, or when the total exceeds ``max_addresses``.
    """
    seen, out = set(), []
    for entry in networks or []:
        text = str(entry).strip()
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"networks: {entry!r} is neither an address nor a CIDR network") from None
        if len(seen) + net.num_addresses - 2 > max_addresses:
            raise ValueError(f"networks: more than {max_addresses} addresses to probe; name smaller networks")
        hosts = [net.network_address] if net.num_addresses == 1 else list(net.hosts())
        for addr in hosts:
            if addr not in seen:
                seen.add(addr)
                out.append(str(addr))
    return out


def is_meter(system):
    model = ((system or {}).get("device") or {}).get("model") if isinstance(system, dict) else None
    return isinstance(model, str) and model.startswith(MODEL_PREFIX) and bool(system["device"].get("id"))


def host_name(device_id, template="whatwatt-{id}"):
    """The inventory name of a meter: stable across addresses (from its 12-hex device id, lower case)."""
    return template.format(id=str(device_id).lower())


def probe(address, port, password="", timeout=2.0, client_factory=WhatWattClient):
    """``(outcome, meter_or_reason)`` for one address."""
    client = client_factory(address, port, password=password or "", timeout=timeout, retries=0)
    try:
        system = client.system()
    except WhatWattError as exc:
        if exc.status == 401:
            return "refused_password", str(exc)
        if exc.status is None and ("connection failed" in exc.message or "timed out" in exc.message):
            return "no_answer", str(exc)
        return "not_a_meter", str(exc)
    except Exception as exc:  # noqa: BLE001 - one odd address never stops discovery
        return "error", f"{address}:{port}: {exc.__class__.__name__}: {exc}"
    finally:
        client.close()
    if not is_meter(system):
        return "not_a_meter", f"{address}:{port}: answers, but not as a WhatWatt Go"
    facts = device_facts(system)
    mac = ((system.get("wifi") or {}).get("mac")) or ((system.get("ethernet") or {}).get("mac"))
    problems = identity_problems(system)  # the device role's pre-flight: the same verdict before a push
    return "meter", dict(
        address=address,
        port=int(port),
        device_id=str(facts["id"]).upper(),
        model=facts["model"],
        firmware=facts["firmware"],
        license=facts["license"],
        mac=mac,
        name=facts["name"] or "",
        auth=client.auth_scheme or "none",
        ready=not problems,
        not_ready_reasons=problems,
    )


def discover(addresses, port=80, password="", timeout=2.0, workers=64, client_factory=WhatWattClient):
    """Probe every address in a thread pool; returns ``(meters, summary)``.

    ``meters`` is sorted by device id, one per device id (a meter seen at two addresses is kept at the first,
    in address order, and counted as ``duplicate``); ``summary`` counts each outcome.
    """
    summary = dict.fromkeys(OUTCOMES, 0)
    summary["duplicate"] = 0
    results = {}
    if addresses:
        threads = max(1, min(int(workers), len(addresses)))
        with concurrent.futures.ThreadPoolExecutor(threads, "whatwatt-discover") as pool:
            futures = {addr: pool.submit(probe, addr, port, password, timeout, client_factory) for addr in addresses}
            results = {addr: future.result() for addr, future in futures.items()}
    by_id = {}
    for addr in addresses:
        outcome, data = results[addr]
        summary[outcome] += 1
        if outcome != "meter":
            continue
        if data["device_id"] in by_id:
            summary["duplicate"] += 1
            continue
        by_id[data["device_id"]] = data
    return [by_id[key] for key in sorted(by_id)], summary


def summary_text(summary, addresses):
    parts = [f"{summary[key]} {key.replace('_', ' ')}" for key in (*OUTCOMES, "duplicate") if summary.get(key)]
    return f"whatwatt.secure_mqtt.meters: {addresses} address(es) probed: " + (", ".join(parts) or "nothing")
