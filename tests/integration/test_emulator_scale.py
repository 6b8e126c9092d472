"""Scale: N emulated devices in one process stay connected and publishing to a TLS broker.

N defaults to 100 to keep the suite fast; ``WHATWATT_EMULATOR_SCALE=500`` runs the acceptance
measurement (CPU and memory are printed; run with ``-s`` to see them).
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from harness.broker import MosquittoBroker
from harness.emulator import EmulatorProcess
from harness.certs import issue, make_pki
from harness.mqtt import Subscriber
from harness.ports import free_port

pytestmark = pytest.mark.integration

COUNT = int(os.environ.get("WHATWATT_EMULATOR_SCALE", "100"))
INTERVAL = int(os.environ.get("WHATWATT_EMULATOR_SCALE_INTERVAL", "5"))
WINDOW = float(os.environ.get("WHATWATT_EMULATOR_SCALE_WINDOW", "15"))
FIRST_IP = "127.0.21.1"
BROKER_IP = "127.0.20.2"


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def test_fleet_stays_connected_and_publishing(tmp_path):
    pki = make_pki(str(tmp_path / "pki"), server_sans=(BROKER_IP,), clients=("test-monitor",))
    clients = [issue(pki.ca, f"whatwatt-{i:04d}") for i in range(1, COUNT + 1)]
    port = free_port(FIRST_IP)
    broker = MosquittoBroker(tmp_path / "broker", pki.ca.cert_path, pki.server.cert_path, pki.server.key_path,
                             host=BROKER_IP).start()  # fmt: skip
    emulator = EmulatorProcess(tmp_path, COUNT, FIRST_IP, port, report_interval=INTERVAL, log_level="WARNING")
    mon = pki.client("test-monitor")
    try:
        emulator.start()
        assert emulator.ready_line.startswith(f"ready: {COUNT} devices")
        proc = emulator.proc
        rss_idle = rss_mb(proc.pid)
        from whatwatt_emulator import ip_range

        ips = ip_range(FIRST_IP, COUNT)

        def provision(i):
            cid = f"whatwatt-{i + 1:04d}"
            body = {
                "enable": True,
                "url": f"mqtts://{BROKER_IP}:{broker.port}",
                "client_id": cid,
                "publish": {"topic": f"meters/{cid}", "template": '{"sys_id":"${sys.id}","P_In":${1_7_0}}'},
                "broker": {"certificate": pki.ca_pem},
                "client": {"certificate": clients[i].cert_pem, "key": clients[i].key_pem()},
            }
            r = requests.post(f"http://{ips[i]}:{port}/api/v1/mqtt/settings", json=body, timeout=30)
            assert r.status_code == 200, r.text

        start = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(provision, range(COUNT)))
        provisioned = time.monotonic() - start

        def state(i):
            return requests.get(f"http://{ips[i]}:{port}/_emulator/state", timeout=30).json()["mqtt"]

        deadline = time.monotonic() + 60
        while True:
            with ThreadPoolExecutor(8) as pool:
                states = list(pool.map(state, range(COUNT)))
            if all(s["connected"] for s in states):
                break
            assert time.monotonic() < deadline, [s for s in states if not s["connected"]][:3]
            time.sleep(1)
        connected_after = time.monotonic() - start
        with Subscriber(BROKER_IP, broker.port, pki.ca.cert_path, mon.cert_path, mon.key_path, topic="meters/#") as col:
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            bcpu0 = cpu_seconds(broker.proc.pid)
            time.sleep(WINDOW)
            cpu1, t1 = cpu_seconds(proc.pid), time.monotonic()
            bcpu1 = cpu_seconds(broker.proc.pid)
            topics = {t for t, _payload in col.messages}
            received = len(col.messages)
        with ThreadPoolExecutor(8) as pool:
            states = list(pool.map(state, range(COUNT)))
        cpu_pct = 100.0 * (cpu1 - cpu0) / (t1 - t0)
        broker_pct = 100.0 * (bcpu1 - bcpu0) / (t1 - t0)
        report = (
            f"\n[scale] devices={COUNT} interval={INTERVAL}s provisioned_in={provisioned:.1f}s "
            f"all_connected_after={connected_after:.1f}s window={WINDOW:.0f}s messages={received} "
            f"topics={len(topics)} emulator_cpu={cpu_pct:.1f}% (of one core) rss_idle={rss_idle:.0f}MB "
            f"rss={rss_mb(proc.pid):.0f}MB broker_cpu={broker_pct:.1f}%"
        )
        print(report)
        with open(tmp_path.parent / "emulator-scale.txt", "a", encoding="utf-8") as handle:
            handle.write(report + "\n")
        assert all(s["connected"] for s in states)
        assert sum(s["connects"] for s in states) == COUNT  # nobody reconnected
        if WINDOW >= 2 * INTERVAL:
            assert len(topics) == COUNT  # every device published in the window
        assert received >= COUNT * int(WINDOW / INTERVAL) * 0.8
        proc.terminate()
        assert proc.wait(60) == 0
    finally:
        emulator.stop()
        broker.stop()
