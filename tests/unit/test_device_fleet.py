# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""device_fleet's decisions: per-meter inputs, isolation of failures, check mode, idempotence, the
report interval, drift, and the per-host outcome. Meters are the local fake (127.0.30.150-159);
verification against a real broker is in test_device_fleet_verify.py."""

import json
import threading
import time

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_fleet as df

from tests.unit.device_fleet_helpers import NAMES, fleet_options, mtimes, quick_client, run


# -- inputs --------------------------------------------------------------------------------------------
def test_device_inputs_merge_fleet_defaults_and_derive_certificate_paths(pki_dir, tmp_path):
    fleet = fleet_options(pki_dir, tmp_path, [], password="fleet-pw", report_interval=10)
    name, options, problems = df.device_inputs(
        dict(name="m1", host="192.0.2.1", topic="t/m1", client_id="c1", password="own"), fleet
    )
    assert (name, problems) == ("m1", [])
    assert options["client_id"] == "c1" and options["password"] == "own" and options["report_interval"] == 10
    assert options["client_cert_path"] == f"{pki_dir}/clients/c1.crt"
    assert options["client_key_path"] == f"{pki_dir}/clients/c1.key"
    assert options["template"] == '{"P_In":${1_7_0}}' and options["mode"] == "apply"
    unused_name, options, unused_problems = df.device_inputs(dict(name="m2", topic="t/m2"), fleet)
    assert options["client_id"] == "m2" and options["password"] == "fleet-pw"


def test_a_bad_field_names_the_meter_and_the_field(pki_dir, tmp_path):
    fleet = fleet_options(pki_dir, tmp_path, [])
    name, options, problems = df.device_inputs(dict(name="m1", topic="t", port="eighty"), fleet)
    assert name == "m1" and options is None
    assert len(problems) == 1 and problems[0].startswith("m1: ") and "port" in problems[0]
    unused_name, unused_options, problems = df.device_inputs(dict(name="m1", topic="t", colour="blue"), fleet)
    assert "m1: " in problems[0] and "colour" in problems[0]
    unused_name, unused_options, problems = df.device_inputs(dict(name="m1"), fleet)
    assert problems == ["m1: topic is required"]


def test_duplicate_names_and_shared_topics_fail_those_meters_only(pki_dir, tmp_path):
    fleet = fleet_options(pki_dir, tmp_path, [])
    entries = [
        dict(name="a", topic="t/a"),
        dict(name="b", topic="t/shared"),
        dict(name="c", topic="t/shared"),
        dict(name="d", topic="t/d"),
        dict(name="d", topic="t/d2"),
    ]
    order, inputs, problems = df.batch_inputs(entries, fleet)
    assert order == ["a", "b", "c", "d"]
    assert sorted(inputs) == ["a"]
    assert "shares the topic t/shared with c" in problems["b"][0]
    assert "shares the topic t/shared with b" in problems["c"][0]
    assert problems["d"] == ["d: listed twice in the batch"]


def test_an_unreadable_monitor_identity_stops_the_batch_before_any_meter(pki_dir, tmp_path, devices):
    options = fleet_options(
        pki_dir,
        tmp_path / "rec",
        devices,
        verify="changed",
        monitor_cert_path=str(pki_dir / "clients" / "fleet-0.crt"),
        monitor_key_path=str(tmp_path / "missing.key"),
    )
    with pytest.raises(df.FleetError, match="monitor_key_path .*missing.key is not readable"):
        run(options)
    assert all(dev.calls() == [] for dev in devices)


# -- the batch ------------------------------------------------------------------------------------------
def test_check_then_apply_then_rerun_then_check(pki_dir, tmp_path, devices):
    record_dir = tmp_path / "rec"
    options = fleet_options(pki_dir, record_dir, devices)

    check = run(options, check_mode=True)
    assert check["changed_devices"] == NAMES and check["failed_devices"] == []
    assert all(dev.mqtt_view()["enable"] is False for dev in devices)  # nothing was sent
    assert not record_dir.exists()
    assert check["devices"]["fleet-0"]["msg"].startswith("would change: ")

    applied = run(options)
    assert applied["changed_devices"] == NAMES and applied["failed_devices"] == []
    for name, dev in zip(NAMES, devices, strict=True):
        view = dev.mqtt_view()
        assert view["client_id"] == name and view["publish"]["topic"] == f"meters/{name}" and view["key_len"] > 0
        outcome = applied["devices"][name]
        assert outcome["pushed_certificates"] and outcome["msg"].startswith("changed: ")
        assert outcome["diff"]["after"]["certificates"]["key_len"] == "set"
    text = json.dumps(applied)
    assert "PRIVATE KEY" not in text

    files = mtimes(record_dir)
    for dev in devices:
        dev.clear_log()
    rerun = run(options)
    assert rerun["changed"] is False and rerun["changed_devices"] == [] and rerun["failed_devices"] == []
    assert all(outcome["msg"] == "up to date" for outcome in rerun["devices"].values())
    # the pre-flight's one status GET, then the plan's one GET
    assert all(
        [c[:2] for c in dev.calls()] == [("GET", "/api/v1/system"), ("GET", "/api/v1/mqtt/settings")] for dev in devices
    )
    assert mtimes(record_dir) == files
    assert run(options, check_mode=True)["changed_devices"] == []


def test_a_run_removes_the_copies_a_killed_run_left_in_the_records(pki_dir, tmp_path, devices):
    record_dir = tmp_path / "rec"
    options = fleet_options(pki_dir, record_dir, devices)
    run(options)
    files = mtimes(record_dir)
    leftovers = [record_dir / ".fleet-0.key.tmp", record_dir / ".fleet-1.previous.key.tmp"]
    for path in leftovers:
        path.write_text("-----BEGIN PRIVATE KEY-----\n")
    run(options, check_mode=True)
    assert all(path.exists() for path in leftovers)
    assert run(options)["changed_devices"] == []
    assert mtimes(record_dir) == files


def test_one_meter_failing_leaves_the_others_done(pki_dir, tmp_path, devices):
    options = fleet_options(pki_dir, tmp_path / "rec", devices)
    options["devices"][1]["port"] = 1  # nothing listens there
    options["devices"][2]["topic"] = "meters/#"  # refused before any request
    result = run(options)
    assert result["failed_devices"] == ["fleet-1", "fleet-2"]
    assert result["changed_devices"] == ["fleet-0", "fleet-3"]
    assert result["devices"]["fleet-1"]["msg"].startswith("fleet-1 (")
    assert "connection failed" in result["devices"]["fleet-1"]["msg"]
    assert "fleet-2" in result["devices"]["fleet-2"]["msg"] and "topic" in result["devices"]["fleet-2"]["msg"]
    assert devices[2].calls() == []
    assert devices[0].mqtt_view()["enable"] is True and devices[3].mqtt_view()["enable"] is True
    assert result["stop_rollout"] is False and result["stop_message"] == ""  # default 100: never stops
    stopping = run(dict(options, max_fail_percentage=49))
    assert stopping["stop_rollout"] is True, stopping
    assert stopping["stop_message"].startswith("2 of 4 meters of this batch failed, more than max_fail_percentage 49 %")
    assert run(dict(options, max_fail_percentage=50))["stop_rollout"] is False


@pytest.mark.parametrize(
    ("failed", "meters", "percentage", "stops"),
    [(0, 10, 0, False), (1, 10, 0, True), (1, 10, 10, False), (2, 10, 10, True), (10, 10, 100, False)]
    + [(0, 0, 0, False)],
)
def test_the_rollout_stops_by_ansibles_max_fail_percentage_rule(failed, meters, percentage, stops):
    assert df.rollout_stops(failed, meters, percentage) is stops


def test_report_interval_is_part_of_the_meter_outcome(pki_dir, tmp_path, devices):
    options = fleet_options(pki_dir, tmp_path / "rec", devices, report_interval=7)
    first = run(options)
    assert first["changed_devices"] == NAMES
    assert all(dev.settings_view()["services"]["report_interval"] == 7 for dev in devices)
    assert "report_interval" in first["devices"]["fleet-0"]["changed_fields"]
    assert first["devices"]["fleet-0"]["diff"]["after"]["report_interval"] == 7
    devices[2].settings["services"]["report_interval"] = 30  # someone changed it on the meter
    second = run(options)
    assert second["changed_devices"] == ["fleet-2"]
    assert second["devices"]["fleet-2"]["changed_fields"] == ["report_interval"]
    assert second["devices"]["fleet-2"]["diff"]["before"]["report_interval"] == 30


def test_drift_fail_turns_would_change_into_a_failure_in_check_mode(pki_dir, tmp_path, devices):
    options = fleet_options(pki_dir, tmp_path / "rec", devices)
    run(options)
    devices[3].factory_reset()
    audit = run(dict(options, drift="fail"), check_mode=True)
    assert audit["failed_devices"] == ["fleet-3"] and audit["changed_devices"] == []
    assert audit["devices"]["fleet-3"]["msg"] == df.DRIFT_MESSAGE
    assert devices[3].mqtt_view()["enable"] is False  # check mode: still not repaired


# -- one host's status ------------------------------------------------------------------------------------
def test_host_outcome():
    registered = dict(
        devices={
            "a": dict(changed=True, failed=False, msg="changed: url", diff={"before": {}, "after": {}}),
            "b": dict(changed=False, failed=True, msg="b: verification failed: x; rolled back"),
        }
    )
    a = df.host_outcome(registered, "a")
    assert a["changed"] is True and a["failed"] is False and "diff" in a
    b = df.host_outcome(registered, "b")
    assert b["failed"] is True and b["msg"].startswith("b: verification failed")
    missing = df.host_outcome(registered, "c", "whatwatt_device_fleet")
    assert missing["failed"] is True and missing["msg"] == "c: not in the batch of whatwatt_device_fleet"
    broken = df.host_outcome({"failed": True, "msg": "boom"}, "a", "v")
    assert broken["failed"] is True and "boom" in broken["msg"]


def test_per_meter_paths_win_and_a_meter_of_another_broker_is_refused_when_verifying(pki_dir, tmp_path):
    fleet = fleet_options(pki_dir, tmp_path, [])
    entry = dict(name="m1", topic="t/m1", ca_path="/other/ca.crt", certs_dir="/other/clients", record_dir="/other/rec")
    unused_name, options, problems = df.device_inputs(entry, fleet)
    assert problems == []
    assert (options["ca_path"], options["record_dir"]) == ("/other/ca.crt", "/other/rec")
    assert options["client_cert_path"] == "/other/clients/m1.crt"
    elsewhere = dict(name="m2", topic="t/m2", broker_host="192.0.2.99")
    unused_name, options, problems = df.device_inputs(elsewhere, fleet)  # verify: none
    assert problems == [] and options["broker_host"] == "192.0.2.99"
    unused_name, unused_options, problems = df.device_inputs(elsewhere, dict(fleet, verify="changed"))
    assert len(problems) == 1 and problems[0].startswith("m2: broker 192.0.2.99:8883 differs from the batch's")


# -- meters that do not answer -------------------------------------------------------------------------
class Silent:
    """Loopback servers that accept connections and never answer (meters that hang); ``accepted[i]`` holds the
    monotonic times server ``i`` accepted a connection."""

    def __init__(self, addresses):
        import socket
        import threading

        self.socks = [socket.create_server((address, 0)) for address in addresses]
        self.endpoints = [sock.getsockname()[:2] for sock in self.socks]
        self.accepted = [[] for _sock in self.socks]
        self._conns = []
        for index, sock in enumerate(self.socks):
            threading.Thread(target=self._accept, args=(index, sock), daemon=True).start()

    def _accept(self, index, sock):
        while True:
            try:
                conn, _peer = sock.accept()
            except OSError:
                return
            self.accepted[index].append(time.monotonic())
            self._conns.append(conn)

    def close(self):
        for sock in self.socks + self._conns:
            sock.close()


def test_meters_that_never_answer_are_retried_together_at_the_end_and_named(pki_dir, tmp_path, devices):
    silent = Silent([f"127.0.30.{160 + n}" for n in range(3)])
    try:
        options = fleet_options(pki_dir, tmp_path, devices[:1], timeout=0.5, retries=2, workers=1)
        options["devices"] += [
            dict(name=f"hang-{n}", host=host, port=port, client_id=NAMES[n + 1], topic=f"meters/{NAMES[n + 1]}")
            for n, (host, port) in enumerate(silent.endpoints)
        ]
        result = run(options)
    finally:
        silent.close()
    # The meter that answers is provisioned; each silent one fails alone, tried 1 + 2 times in all, and named.
    assert result["changed_devices"] == [NAMES[0]]
    assert sorted(result["failed_devices"]) == ["hang-0", "hang-1", "hang-2"]
    for n, (host, _port) in enumerate(silent.endpoints):
        outcome = result["devices"][f"hang-{n}"]
        assert outcome.get("unreachable") is True, outcome
        assert outcome["msg"].startswith(f"hang-{n} ({host}): GET "), outcome["msg"]
        assert outcome["msg"].endswith("timed out after 0.5s after 3 attempt(s)"), outcome["msg"]
    assert [len(times) for times in silent.accepted] == [3, 3, 3]
    # One worker for the batch, yet the silent meters' retries ran side by side: their second attempts began within
    # moments of each other (a worker per meter for all its attempts, as before, starts the next meter's only
    # after 3 x 0.5 s).
    seconds = [times[1] for times in silent.accepted]
    assert max(seconds) - min(seconds) < 0.3, seconds


def test_a_meter_that_answers_only_on_its_retry_is_pushed_after_the_others(pki_dir, tmp_path, devices):
    late = devices[1]
    late.delay = 0.8  # the first GET times out (0.5 s); the meter answers again before its retry
    threading.Timer(0.3, setattr, (late, "delay", 0)).start()
    result = run(fleet_options(pki_dir, tmp_path, devices[:3], timeout=0.5, retries=2, workers=1))
    assert result["failed_devices"] == [], result["devices"]
    assert result["changed_devices"] == NAMES[:3]
    assert {"plan", "push", "late_plan", "late_push"} <= set(result["timings"]), result["timings"]
    # Its settings were pushed in a round of its own, after the other meters'.
    assert [method for method, *_rest in late.calls() if method != "GET"], late.calls()


def test_the_plan_s_silent_meters_stop_holding_a_worker_after_slow_after():
    running, peak, lock = [0], [0], threading.Lock()

    def call(key):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.6 if key.startswith("silent") else 0.01)
        with lock:
            running[0] -= 1
        return key.upper()

    keys = [f"silent-{n}" for n in range(6)] + [f"m-{n}" for n in range(20)]
    begin = time.monotonic()
    result = df._elastic_map(call, keys, workers=2, slow_after=0.05, ceiling=8)
    elapsed = time.monotonic() - begin
    assert list(result) == keys and result["m-3"] == "M-3"
    # Six 0.6 s calls on two workers take 1.8 s one after the other; here they ran side by side, and never more
    # than the ceiling at once.
    assert elapsed < 1.2, elapsed
    assert peak[0] <= 8
    running[0] = peak[0] = 0
    df._elastic_map(call, [f"m-{n}" for n in range(20)], workers=2, slow_after=5, ceiling=8)
    assert peak[0] <= 2  # calls that answer in time: never more than the workers


class OneVerifier:
    """A monitor that works once (every armed meter verified) and cannot connect the second time."""

    started = 0

    def __init__(self, devices, *args, **kwargs):
        self.names = [device["name"] for device in devices]

    def start(self, armed=False):
        OneVerifier.started += 1
        if OneVerifier.started > 1:
            raise df.VerifyError("the broker went away")

    def arm(self, name):
        pass

    def verify(self, names):
        return dict(devices={name: dict(ok=True, reason="") for name in names})

    def close(self):
        pass


def test_a_late_round_whose_monitor_cannot_connect_fails_its_meters_alone_and_sends_them_nothing(
    pki_dir, tmp_path, devices
):
    late = devices[1]
    late.delay = 0.8
    threading.Timer(0.3, setattr, (late, "delay", 0)).start()
    options = fleet_options(
        pki_dir, tmp_path, devices[:2], timeout=0.5, retries=2, workers=1, verify="changed",
        monitor_cert_path=str(pki_dir / "clients" / "fleet-0.crt"),
        monitor_key_path=str(pki_dir / "clients" / "fleet-0.key"),
    )  # fmt: skip
    OneVerifier.started = 0
    result = df.run_fleet(options, client_factory=quick_client, verifier_factory=OneVerifier)
    assert (result["changed_devices"], result["verified_devices"]) == ([NAMES[0]], [NAMES[0]])
    assert result["failed_devices"] == [NAMES[1]]
    message = result["devices"][NAMES[1]]["msg"]
    assert message.startswith(f"{NAMES[1]}: verification cannot run (VerifyError: the broker"), message
    assert [method for method, *_rest in late.calls() if method != "GET"] == []


def test_an_audit_listens_to_every_meter_before_the_plan_s_first_request(pki_dir, tmp_path, devices):
    seen = {}

    class Listening(OneVerifier):
        def arm(self, name):
            seen[name] = sum(len(dev.calls()) for dev in devices)  # requests the meters had when it was armed

    options = fleet_options(
        pki_dir, tmp_path, devices[:3], verify="all",
        monitor_cert_path=str(pki_dir / "clients" / "fleet-0.crt"),
        monitor_key_path=str(pki_dir / "clients" / "fleet-0.key"),
    )  # fmt: skip
    OneVerifier.started = 0
    result = df.run_fleet(options, check_mode=True, client_factory=quick_client, verifier_factory=Listening)
    assert seen == {name: 0 for name in NAMES[:3]}
    assert result["verified_devices"] == NAMES[:3] and OneVerifier.started == 1
