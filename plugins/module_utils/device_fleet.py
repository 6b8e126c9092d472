# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A whole batch of meters in one task: push, report interval, verification, rollback.

Every per-host task costs the controller about 15-25 ms per meter even when it does nothing (Ansible
forks a worker, builds the host's variables, processes the result), so a 1000-meter fleet pays seconds
per task before any device is touched. ``run_fleet`` does the work of a batch in one process with a
thread pool: for each meter the same ``run_mqtt`` and ``run_settings`` the single-meter actions use,
then one ``FleetVerifier`` for the meters that changed, then ``run_mqtt(mode=rollback)`` for those that
did not come up. It returns one outcome per meter; the ``device_fleet_result`` action turns a meter's
outcome into that host's task status (changed, failed, diff), so the play recap stays per meter.

Failure isolation: every meter is validated before its first request, and an error on one meter is
that meter's outcome; the run itself fails only when it could not do its job for anyone (the
monitoring identity unreadable), and then before any meter is touched.
"""

from __future__ import absolute_import, division, print_function


import collections
import concurrent.futures
import time

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import meter_spec, naming
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.atomic import clear_leftovers_in
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_mqtt import run_mqtt
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_plan import template_text
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_preflight import preflight
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_template import preset_template
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_settings import run_settings
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_verify import (
    FleetVerifier,
    VerifyError,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    WhatWattClient,
    WhatWattError,
    connection_options,
)

# One meter of the batch; the fleet-wide options below are the defaults of the shared fields.
DEVICE_SPEC = dict(name=dict(type="str", required=True), **meter_spec.options(meter_spec.DEVICE, defaults=False))

FLEET_ARGUMENT_SPEC = dict(
    devices=dict(type="list", elements="dict"),
    hosts=dict(type="list", elements="str"),
    outcomes=dict(type="str", choices=["all", "reported"], default="all"),
    **meter_spec.options(
        meter_spec.FLEET,
        broker_host=dict(required=True),
        password=dict(default=""),
        ca_path=dict(required=True),
        record_dir=dict(required=True),
    ),
)
FLEET_EXCLUSIVE = [("devices", "hosts")]
FLEET_REQUIRED_IF = [
    ("verify", "changed", ("monitor_cert_path", "monitor_key_path")),
    ("verify", "all", ("monitor_cert_path", "monitor_key_path")),
]

_DEVICE_VALIDATOR = ArgumentSpecValidator(DEVICE_SPEC)
# Fields of a device entry that device_inputs turns into other options (defaults, paths, the preset's text).
_DERIVED = (
    "host",
    "port",
    "password",
    "client_id",
    "client_cert_path",
    "client_key_path",
    "template_preset",
    "certs_dir",
    "report_interval",
)
# The rest go to run_mqtt as they are (after the batch's fallback).
_PASSED = tuple(name for name in meter_spec.DEVICE if name not in _DERIVED)

DRIFT_MESSAGE = "settings or certificates differ from the inventory: run site.yml"
NOT_EVIDENCE = "not rolled back: a monitoring problem is not evidence against the meter"


class FleetError(Exception):
    """The batch cannot be worked on at all; raised before any meter is touched."""


# -- inputs ------------------------------------------------------------------------------------------
def device_inputs(entry, fleet):
    """Validate one device entry and merge the fleet-wide defaults.

    Returns ``(name, options, problems)``; ``options`` are the ``device_mqtt`` options of an apply run
    plus ``host``/``port``/``password``/``report_interval``. Problems name the device and the field.
    """
    raw_name = entry.get("name") if isinstance(entry, dict) else None
    name = str(raw_name or "?")
    if not isinstance(entry, dict):
        return name, None, [f"device entry {entry!r} is not a dictionary"]
    result = _DEVICE_VALIDATOR.validate(entry)
    if result.error_messages:
        return name, None, [f"{name}: {message}" for message in result.error_messages]
    device = result.validated_parameters
    for field in meter_spec.SHARED:
        if device.get(field) is None:
            device[field] = fleet.get(field)
    client_id = device.get("client_id") or name
    certs_dir = device.get("certs_dir")
    cert_path = device.get("client_cert_path") or (f"{certs_dir}/{client_id}.crt" if certs_dir else None)
    key_path = device.get("client_key_path") or (f"{certs_dir}/{client_id}.key" if certs_dir else None)
    options = dict(
        mode="apply",
        enable=True,
        client_id=client_id,
        client_cert_path=cert_path,
        client_key_path=key_path,
        host=device.get("host"),
        port=device.get("port"),
        password=device.get("password") or "",
        timeout=fleet.get("timeout", 10),
        retries=fleet.get("retries", 3),
        report_interval=device.get("report_interval"),
    )
    for field in _PASSED:
        # a bool the entry leaves unset (and the batch too) is false, as in device_mqtt's spec
        value = device.get(field)
        options[field] = bool(value) if meter_spec.FIELDS[field]["type"] == "bool" else value
    problems = []
    if device.get("template_preset"):
        # A preset replaces the template text (the role passes both: its default template and the preset).
        try:
            options["template"] = preset_template(device["template_preset"])
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    if options["topic"] is None:
        problems.append(f"{name}: topic is required")
    broker = (options["broker_host"], options["broker_port"])
    if fleet.get("verify") != "none" and broker != (fleet["broker_host"], fleet["broker_port"]):
        problems.append(
            f"{name}: broker {broker[0]}:{broker[1]} differs from the batch's {fleet['broker_host']}:"
            f"{fleet['broker_port']}, where its messages are verified; provision meters of another broker"
            " in their own play (or batch)"
        )
    return name, options, problems


def batch_inputs(devices, fleet, unresolved=None):
    """Inputs of every device; a problem (bad field, duplicate name, shared topic or client id) is that device's.

    ``unresolved`` maps a meter whose variables could not be resolved (``hosts``) to its problems.

    Two meters on one topic could not be told apart at verification, so both are refused; so are meters whose
    client ids collide (``client_id_problems``).
    """
    inputs = {}
    problems = {}
    order = []
    topics = naming.TopicClaims()
    unresolved = unresolved or {}
    for entry in devices or []:
        if isinstance(entry, dict) and entry.get("name") in unresolved:
            name, options, errors = entry["name"], None, unresolved[entry["name"]]
        else:
            name, options, errors = device_inputs(entry, fleet)
        if name in inputs or name in problems:
            problems.setdefault(name, []).append(f"{name}: listed twice in the batch")
            inputs.pop(name, None)
            continue
        order.append(name)
        if errors:
            problems[name] = errors
            continue
        inputs[name] = options
        topics.claim(options["topic"], name)
    for topic, names in topics.shared().items():
        for name in names:
            others = ", ".join(n for n in names if n != name)
            problems.setdefault(name, []).append(
                f"{name}: shares the topic {topic} with {others}: their messages could not be told apart"
            )
            inputs.pop(name, None)
    for name, errors in client_id_problems(inputs, fleet.get("monitor_identities") or ()).items():
        problems.setdefault(name, []).extend(errors)
        inputs.pop(name, None)
    return order, inputs, problems


def client_id_problems(inputs, monitor_identities=()):
    """``{name: [problem]}`` for meters whose client id is another meter's or a reader identity's.

    The broker binds the MQTT client id to the certificate identity (``use_username_as_clientid``): two
    meters given one id would hold one certificate identity and displace each other's session, and a meter
    given a reader identity (monitor, verify, watch) would displace the verifier. Every meter involved is
    refused, and each message names the other host.
    """
    readers = {str(identity) for identity in monitor_identities}
    by_id = {}
    for name, options in inputs.items():
        by_id.setdefault(options["client_id"], []).append(name)
    problems = {}
    for client_id, names in by_id.items():
        for name in names:
            if len(names) > 1:
                others = ", ".join(n for n in names if n != name)
                problems.setdefault(name, []).append(
                    f"{name}: shares the client id {client_id} with {others}: one would displace the other's"
                    " session on the broker"
                )
            if client_id in readers:
                problems.setdefault(name, []).append(
                    f"{name}: client id {client_id} is a reader identity (monitoring, verify or watch), not a"
                    " meter's: the meter and the reader would displace each other's session on the broker"
                )
    return problems


def check_monitor(fleet, check_mode=False):
    """The monitoring identity must be readable before any meter is changed (else nothing is verified).

    Checked on every run that may verify, also when nothing turns out to need it: a broken monitoring
    identity is found on the next run, not on the day a meter changes.
    """
    if fleet.get("verify") == "none" or (check_mode and fleet.get("verify") != "all"):
        return
    for option in ("ca_path", "monitor_cert_path", "monitor_key_path"):
        path = fleet.get(option)
        try:
            with open(path, "rb") as handle:
                handle.read(1)
        except (OSError, TypeError) as exc:
            raise FleetError(
                f"{option} {path} is not readable ({exc.__class__.__name__}): nothing can be verified,"
                " so no meter was changed"
            ) from None


# -- one meter ---------------------------------------------------------------------------------------
def _client(name, options, client_factory, attempts=None):
    """The meter's client. ``attempts``: ``(transport_retries, earlier_attempts)`` for a call that gets no answer
    (the plan's first pass tries such a meter once; it is tried again at the end of the batch); a 503 is retried
    ``retries`` times either way."""
    conn = connection_options(options, {}, name)
    extra = {}
    if attempts is not None:
        extra = dict(transport_retries=attempts[0], earlier_attempts=attempts[1])
    return client_factory(
        host=conn["host"],
        port=conn["port"],
        password=conn["password"],
        name=conn["name"],
        timeout=options["timeout"],
        retries=options["retries"],
        **extra,
    )


_OUTCOME_KEYS = ("changed", "settings", "pushed_certificates", "reasons", "changed_fields", "diff", "warnings")


def push_one(name, options, check_mode, client_factory=WhatWattClient, check_first=False, attempts=None):
    """Push one meter (``run_mqtt`` apply, then the report interval). Returns its outcome.

    ``check_first``: the pre-flight (firmware, licence, clock; one ``GET /api/v1/system``) before anything else.
    ``attempts``: see ``_client``. A meter that never answered has ``unreachable`` in its failed outcome.
    """
    try:
        with _client(name, options, client_factory, attempts) as client:
            result = run_mqtt(
                client,
                options,
                check_mode=check_mode,
                default_client_id=name,
                preflight=preflight if check_first else None,
            )
            # Only what a meter's outcome needs: the whole batch's result is kept in memory by Ansible, and on
            # 1000 meters every kilobyte per meter is a megabyte the controller carries.
            outcome = {key: result[key] for key in _OUTCOME_KEYS if key in result}
            if not result["changed"]:
                outcome.pop("diff", None)
            outcome["failed"] = False
            if options.get("report_interval") is not None:
                settings = run_settings(
                    client,
                    dict(report_interval=options["report_interval"], password=options["password"]),
                    check_mode=check_mode,
                )
                outcome["report_interval"] = settings["settings"].get("report_interval")
                if settings["changed"]:
                    outcome["changed"] = True
                    outcome["changed_fields"] = sorted(set(outcome.get("changed_fields", [])) | {"report_interval"})
                    outcome["diff"] = _with_interval(outcome.get("diff"), settings["diff"])
            return outcome
    except WhatWattError as exc:
        outcome = dict(failed=True, changed=False, msg=exc.message)
        if getattr(exc, "unreachable", False):
            outcome["unreachable"] = True
        return outcome
    except Exception as exc:  # noqa: BLE001 - one meter's surprise must not stop the batch
        return dict(failed=True, changed=False, msg=f"{name}: unexpected error: {exc.__class__.__name__}: {exc}")


def _with_interval(diff, settings_diff):
    diff = dict(diff or dict(before={}, after={}))
    diff["before"] = dict(diff.get("before") or {}, report_interval=settings_diff["before"].get("report_interval"))
    diff["after"] = dict(diff.get("after") or {}, report_interval=settings_diff["after"].get("report_interval"))
    return diff


def rollback_one(name, options, client_factory=WhatWattClient):
    """``run_mqtt(mode=rollback)`` for a meter that failed verification: the outcome text to append."""
    rollback = dict(options, mode="rollback")
    try:
        with _client(name, options, client_factory) as client:
            result = run_mqtt(client, rollback, default_client_id=name)
    except WhatWattError as exc:
        return False, f"the rollback failed too: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - one meter's surprise must not stop the batch
        return False, f"the rollback failed too: unexpected error: {exc.__class__.__name__}: {exc}"
    if result.get("changed"):
        return True, "rolled back to the previous MQTT settings and certificates"
    return False, "the previous recorded settings equal the new ones: nothing to roll back"


def _pool_map(function, items, workers):
    """``{key: function(*args)}`` for ``items`` = ``{key: args}``, in a thread pool."""
    if not items:
        return {}
    with concurrent.futures.ThreadPoolExecutor(max(1, min(workers, len(items))), "whatwatt-fleet") as pool:
        futures = {key: pool.submit(function, *args) for key, args in items.items()}
        return {key: future.result() for key, future in futures.items()}


# -- the batch ---------------------------------------------------------------------------------------
def run_fleet(fleet, check_mode=False, client_factory=WhatWattClient, verifier_factory=FleetVerifier, unresolved=None):
    """Work on every meter of ``fleet['devices']``; returns the action's result.

    ``unresolved``: meters whose variables could not be resolved, with their problems (failed, never touched).

    1. plan: every valid meter's pre-flight (``GET /api/v1/system``: firmware, licence, clock) and check mode
       (one GET; two with a report interval), in threads; a refused meter is failed and never touched;
    2. when meters will change and verification is on: the monitor subscribes to their topics **before**
       anything is pushed (a first message missed would cost a whole report interval); a monitor that cannot
       connect stops the run here, with no meter changed;
    3. push the meters that differ (``run_mqtt`` re-plans, so a meter that changed meanwhile is still right);
       each one is armed for verification when its push is done;
    4. verify them (and, with ``verify: all``, the unchanged ones), then roll back the pushed meters that
       failed;
    5. a meter that got no answer in the plan (one attempt) is tried again, with its remaining attempts, in the
       background during 2-4; those that answer then go through 2-4 in a round of their own.

    ``devices`` in the result maps each meter's name to ``{changed, failed, msg, ...}``; ``changed``,
    ``failed``, ``verified`` and ``rolled_back`` list the names. ``changed`` of the run itself is true when
    any meter changed.
    """
    start = time.monotonic()
    check_monitor(fleet, check_mode)
    order, inputs, problems = batch_inputs(fleet["devices"], fleet, unresolved)
    if not check_mode:  # what a run killed mid-write left in the records (see atomic.write_atomic)
        for record_dir in sorted({opts["record_dir"] for opts in inputs.values() if opts.get("record_dir")}):
            clear_leftovers_in(record_dir)
    workers = max(1, int(fleet.get("workers") or 16))
    outcomes = {name: dict(changed=False, failed=True, msg="; ".join(errors)) for name, errors in problems.items()}
    # An audit (check mode, verify: all) waits for every meter's next message: the monitor listens from before the
    # plan, so the plan's seconds are part of that wait instead of coming before it.
    listening = None
    if check_mode and fleet.get("verify") == "all" and inputs:
        listening = _start_verifier(fleet, list(inputs), inputs, verifier_factory)
        for name in inputs:
            listening.arm(name)
    # The plan: every meter's pre-flight and one GET, in check mode, so nothing is sent to a refused meter.
    try:
        outcomes.update(
            _elastic_map(lambda name: _plan_one(name, inputs[name], client_factory, late=False), inputs, workers)
        )
    except BaseException:
        if listening is not None:
            listening.close()
        raise
    timings = dict(plan=_since(start))
    late = {name: (name,) for name in order if name in inputs and _answer_later(outcomes[name], inputs[name])}
    work = dict(
        fleet=fleet, inputs=inputs, outcomes=outcomes, check_mode=check_mode, client_factory=client_factory,
        verifier_factory=verifier_factory, workers=workers,
    )  # fmt: skip
    with concurrent.futures.ThreadPoolExecutor(1, "whatwatt-late") as background:
        # The meters that did not answer are tried again in the background while the others are pushed and
        # verified; those that answer then get a round of their own.
        retried = None
        if late:
            retried = background.submit(_timed, _retry_late, late, inputs, client_factory, workers)
        timings.update(_round([name for name in order if name in inputs and name not in late], work, listening))
        if retried is not None:
            late_outcomes, timings["late_plan"] = retried.result()
            outcomes.update(late_outcomes)
            try:
                round_two = _round([name for name in order if name in late], work)
            except FleetError as exc:  # the first round is done: only the meters of this one are refused
                round_two = {}
                for name in late:
                    outcome = outcomes[name]
                    if _ok(outcome) and (outcome.get("changed") or fleet.get("verify") == "all"):
                        outcomes[name] = dict(changed=False, failed=True, msg=f"{name}: {exc}")
            timings.update({f"late_{phase}": seconds for phase, seconds in round_two.items()})

    for name in order:
        outcome = outcomes[name]
        if "msg" not in outcome:
            outcome["msg"] = _summary(outcome, check_mode)
    names = [name for name in order if name in outcomes]
    failed = [n for n in names if outcomes[n].get("failed")]
    limit = fleet.get("max_fail_percentage", 100)
    stop = rollout_stops(len(failed), len(names), limit)
    return dict(
        stop_rollout=stop,
        stop_message=(
            f"{len(failed)} of {len(names)} meters of this batch failed, more than max_fail_percentage {limit} %:"
            " the rollout stops here, later batches are not touched"
            if stop
            else ""
        ),
        changed=any(outcomes[n].get("changed") for n in names),
        devices={name: outcomes[name] for name in names},
        changed_devices=[n for n in names if outcomes[n].get("changed")],
        failed_devices=failed,
        verified_devices=[n for n in names if outcomes[n].get("verified")],
        rolled_back_devices=[n for n in names if outcomes[n].get("rolled_back")],
        elapsed=_since(start),
        timings=timings,
    )


def rollout_stops(failed, meters, max_fail_percentage):
    """Ansible's ``max_fail_percentage`` rule for one batch: stop when more than that percentage of its meters
    failed (100: never; 0: at the first failure)."""
    return meters > 0 and failed * 100 > max_fail_percentage * meters


# A meter that does not answer is tried once in the plan's pass, then again with its remaining attempts in the
# background while the rest of the batch is pushed and verified, all such meters at the same time (up to this many
# threads): a fleet with meters offline costs about one timeout plus one round of retries, not a worker per silent
# meter for all its attempts.
LATE_WORKERS = 256
# In the plan's pass a meter that has not answered after this many seconds (a healthy one answers its two or three
# GETs in well under a second) stops counting against ``workers``: the next meter starts, so a hundred silent
# meters cost one timeout side by side instead of a hundred timeouts / ``workers``. At most LATE_WORKERS run at once.
SLOW_AFTER = 1.0


def _plan_one(name, options, client_factory, late):
    """One meter's plan (pre-flight + check mode): a first try (one attempt at a call that gets no answer) or, with
    ``late``, the remaining attempts of a meter whose first try got no answer."""
    attempts = (options["retries"] - 1, 1) if late else (0, 0)
    return push_one(name, options, True, client_factory, True, attempts=attempts)


def _answer_later(outcome, options):
    return bool(outcome.get("unreachable") and options["retries"])


def _retry_late(late, inputs, client_factory, workers):
    return _pool_map(
        lambda name: _plan_one(name, inputs[name], client_factory, late=True),
        late,
        max(workers, min(len(late), LATE_WORKERS)),
    )


def _timed(function, *args):
    begin = time.monotonic()
    return function(*args), _since(begin)


def _elastic_map(function, keys, workers, slow_after=SLOW_AFTER, ceiling=LATE_WORKERS):
    """``{key: function(key)}`` for ``keys``, in order, with at most ``workers`` calls running that started less
    than ``slow_after`` seconds ago, and at most ``max(workers, ceiling)`` in all."""
    keys = list(keys)
    if not keys:
        return {}
    ceiling = max(workers, ceiling)
    results, running = {}, {}
    queue = collections.deque(keys)
    with concurrent.futures.ThreadPoolExecutor(min(len(keys), ceiling), "whatwatt-plan") as pool:
        while queue or running:
            now = time.monotonic()
            young = [started for _key, started in running.values() if now - started < slow_after]
            while queue and len(young) < workers and len(running) < ceiling:
                key = queue.popleft()
                running[pool.submit(function, key)] = (key, now)
                young.append(now)
            # Wake up when a call ends, or when the oldest young one turns slow and frees its slot.
            wait = max(0.01, min(young) + slow_after - now) if queue and young else None
            done, _pending = concurrent.futures.wait(running, wait, concurrent.futures.FIRST_COMPLETED)
            for future in done:
                key, _started = running.pop(future)
                results[key] = future.result()
    return {key: results[key] for key in keys}


def _args(inputs):
    return {name: (name,) for name in inputs}


def _ok(outcome):
    return not outcome.get("failed")


def _since(begin):
    return round(time.monotonic() - begin, 2)


def _round(names, work, listening=None):
    """Monitor, push and verify ``names`` (planned, in order); their outcomes are updated in
    ``work['outcomes']``. ``listening``: a monitor already subscribed to them and armed (see run_fleet). Returns the
    seconds per phase."""
    fleet, inputs, outcomes, check_mode = work["fleet"], work["inputs"], work["outcomes"], work["check_mode"]
    client_factory, workers = work["client_factory"], work["workers"]
    mode = fleet.get("verify") or "changed"
    timings = {}
    to_push = [name for name in names if _ok(outcomes[name]) and outcomes[name]["changed"]]
    watched = to_push if not check_mode else []
    if mode == "all":
        watched = [name for name in names if _ok(outcomes[name])]
    elif mode == "none":
        watched = []

    verifier = listening
    if watched and verifier is None:
        verifier = _start_verifier(fleet, watched, inputs, work["verifier_factory"])
    try:
        if verifier is not None and listening is None:
            for name in watched:
                if name not in to_push or check_mode:
                    verifier.arm(name)  # not pushed in this run: any message from now on counts
        if not check_mode and to_push:
            begin = time.monotonic()
            outcomes.update(
                _pool_map(
                    lambda name: _push_and_arm(name, inputs[name], client_factory, verifier),
                    _args({name: inputs[name] for name in to_push}),
                    workers,
                )
            )
            timings["push"] = _since(begin)
        if check_mode and fleet.get("drift") == "fail":
            for name in names:
                outcome = outcomes[name]
                if _ok(outcome) and outcome.get("changed"):
                    outcome.update(failed=True, changed=False, drifted=True, msg=DRIFT_MESSAGE)
        if verifier is not None:
            verified = [n for n in watched if _ok(outcomes[n]) and (mode == "all" or outcomes[n]["changed"])]
            timings.update(_verify(fleet, verifier, verified, inputs, outcomes, check_mode, client_factory, workers))
    finally:
        if verifier is not None:
            verifier.close()
    return timings


def _push_and_arm(name, options, client_factory, verifier):
    outcome = push_one(name, options, False, client_factory)
    if verifier is not None and _ok(outcome) and outcome.get("changed"):
        verifier.arm(name)
    return outcome


def _start_verifier(fleet, names, inputs, verifier_factory):
    """The monitor, subscribed to ``names``' topics, nothing armed yet; FleetError when it cannot listen."""
    devices = [
        dict(
            name=name,
            host=inputs[name].get("host") or name,
            port=inputs[name].get("port") or 80,
            client_id=inputs[name]["client_id"],
            topic=inputs[name]["topic"],
            password=inputs[name]["password"],
            template=template_text(inputs[name].get("template")),
        )
        for name in names
    ]
    verifier = None
    try:
        verifier = verifier_factory(
            devices,
            fleet["broker_host"],
            fleet["ca_path"],
            fleet["monitor_cert_path"],
            fleet["monitor_key_path"],
            broker_port=fleet["broker_port"],
            monitor_client_id=fleet.get("monitor_client_id"),
            timeout=fleet.get("verify_timeout", 90),
        )
        verifier.start(armed=False)
        return verifier
    except (VerifyError, WhatWattError, OSError, ValueError) as exc:
        # ssl.SSLError is an OSError: the broker refused the monitor, or the monitor's key does not fit.
        if verifier is not None:
            verifier.close()
        raise FleetError(
            f"verification cannot run ({exc.__class__.__name__}: {exc}), so no meter was changed"
        ) from None


def _verify(fleet, verifier, names, inputs, outcomes, check_mode, client_factory, workers):
    """Wait for ``names``; roll back those pushed in this run that failed (unless check mode or rollback off).

    Returns the seconds spent verifying and rolling back.
    """
    if not names:
        return {}
    start = time.monotonic()
    try:
        verdicts = verifier.verify(names)["devices"]
    except (VerifyError, WhatWattError, OSError, ValueError) as exc:
        text = f"verification could not run ({exc.__class__.__name__}: {exc}); {NOT_EVIDENCE}"
        for name in names:
            outcomes[name].update(failed=True, verified=False, msg=f"{name}: {text}")
        return dict(verify=_since(start))
    failed = {}
    for name in names:
        verdict = verdicts[name]
        outcomes[name]["verification"] = verdict
        outcomes[name]["verified"] = bool(verdict["ok"])
        if not verdict["ok"]:
            failed[name] = verdict["reason"]
    timings = dict(verify=_since(start))
    rollbacks = {}
    pushed = {name: (name,) for name in failed if outcomes[name].get("changed") and not check_mode}
    if pushed and fleet.get("rollback"):
        begin = time.monotonic()
        rollbacks = _pool_map(lambda name: rollback_one(name, inputs[name], client_factory), pushed, workers)
        timings["rollback"] = _since(begin)
    for name, reason in failed.items():
        if name in rollbacks:
            rolled_back, text = rollbacks[name]
            outcomes[name]["rolled_back"] = rolled_back
        elif name not in pushed:
            text = "nothing was pushed in this run"
        else:
            text = "rollback disabled (whatwatt_rollback is false): the new settings stay on the device"
        outcomes[name].update(failed=True, msg=f"{name}: verification failed: {reason}; {text}")
    return timings


def _summary(outcome, check_mode):
    """The message of a meter that did not fail."""
    if outcome.get("changed"):
        fields = outcome.get("changed_fields") or []
        parts = [", ".join(fields) if fields else "settings"]
        if outcome.get("pushed_certificates"):
            parts.append("certificates ({})".format(", ".join(outcome.get("reasons") or ["pushed"])))
        text = ("would change: " if check_mode else "changed: ") + "; ".join(parts)
    else:
        text = "up to date"
    if outcome.get("verified"):
        after = (outcome.get("verification") or {}).get("message_after")
        text += "; connected and publishing" + (f" (first message after {after} s)" if after is not None else "")
    return text


# -- one meter's status (device_fleet_result) --------------------------------------------------------
RESULT_ARGUMENT_SPEC = dict(
    result=dict(type="str", default="whatwatt_device_fleet"),
    name=dict(type="str"),
)


def host_outcome(fleet_result, name, variable="the device_fleet result"):
    """One meter's outcome from a registered ``device_fleet`` result, as that host's task result."""
    devices = (fleet_result or {}).get("devices") if isinstance(fleet_result, dict) else None
    if devices is None:
        reason = (fleet_result or {}).get("msg") if isinstance(fleet_result, dict) else None
        return dict(
            failed=True,
            changed=False,
            msg=f"{name}: {variable} holds no device outcomes" + (f" ({reason})" if reason else ""),
        )
    outcome = devices.get(name)
    if outcome is None:
        return dict(failed=True, changed=False, msg=f"{name}: not in the batch of {variable}")
    result = dict(outcome)
    result["changed"] = bool(outcome.get("changed"))
    result["failed"] = bool(outcome.get("failed"))
    return result
