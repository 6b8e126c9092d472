# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mosquitto role's helper (roles/mosquitto/files/mosquittoctl.py) against a real broker.

Everything lives in a private tree under /tmp and on free loopback ports, so this runs beside
anything else (the molecule scenario owns port 8883 and /etc/mosquitto; this test touches neither).
"""

import grp
import importlib.machinery
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CTL = ROOT / "roles" / "mosquitto" / "files" / "mosquittoctl.py"
PKI_TOOL = ROOT / "molecule" / "default" / "files" / "test_pki.py"
FILES = "mosquitto.conf,acl,certs/ca.crt,certs/server.crt,certs/server.key,certs/crl.pem"

if shutil.which("mosquitto") is None and not os.path.exists("/usr/sbin/mosquitto"):
    pytest.skip("mosquitto is not installed", allow_module_level=True)
if os.geteuid() != 0:
    pytest.skip("the helper starts mosquitto as root (it drops to the mosquitto user)", allow_module_level=True)


def _load_ctl():
    loader = importlib.machinery.SourceFileLoader("whatwatt_mosquittoctl", str(CTL))
    spec = importlib.util.spec_from_loader("whatwatt_mosquittoctl", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


ctl = _load_ctl()


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CONF = """user mosquitto
pid_file {tree}/run/mosquitto.pid
persistence false
log_dest file {tree}/log/mosquitto.log
connection_messages true
per_listener_settings false
allow_anonymous false
acl_file {live}/acl

listener {port} 127.0.0.1
cafile {live}/certs/ca.crt
certfile {live}/certs/server.crt
keyfile {live}/certs/server.key
crlfile {live}/certs/crl.pem
require_certificate true
use_identity_as_username true
tls_version {tls_version}
"""


@pytest.fixture(scope="module")
def pki():
    path = tempfile.mkdtemp(prefix="ww-mosq-pki-")
    subprocess.run([sys.executable, str(PKI_TOOL), "init", path, "broker"], check=True)
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tree(pki):
    """live/, staging/, last-good/, run/, log/ readable by the mosquitto user; a broker stopped at the end."""
    base = Path(tempfile.mkdtemp(prefix="ww-mosq-tree-"))
    gid = grp.getgrnam("mosquitto").gr_gid
    os.chown(base, 0, gid)
    os.chmod(base, 0o750)  # noqa: S103 - the broker drops to the mosquitto user and must traverse it
    for sub in ("live", "live/certs", "staging", "staging/certs", "run", "log"):
        (base / sub).mkdir()
        os.chown(base / sub, 0, gid)
        os.chmod(base / sub, 0o770 if sub in ("run", "log") else 0o750)
    port = _free_port()
    for where in ("live", "staging"):
        for src, dst in (
            ("ca-bundle.crt", "ca.crt"),
            ("servers/broker.crt", "server.crt"),
            ("servers/broker.key", "server.key"),
            ("crl.pem", "crl.pem"),
        ):
            target = base / where / "certs" / dst
            shutil.copyfile(pki / src, target)
            os.chown(target, 0, gid)
            os.chmod(target, 0o640)
        acl = base / where / "acl"
        acl.write_text("user whatwatt-001\ntopic write meters/whatwatt-001\n")
        os.chown(acl, pwd.getpwnam("mosquitto").pw_uid, gid)
        os.chmod(acl, 0o640)
    write_conf(base, "live", port)
    write_conf(base, "staging", port)
    yield {"base": base, "port": port}
    run_ctl(base, "stop")
    shutil.rmtree(base, ignore_errors=True)


def write_conf(base, where, port, tls_version="tlsv1.2"):
    conf = base / where / "mosquitto.conf"
    conf.write_text(CONF.format(tree=base, live=base / "live", port=port, tls_version=tls_version))
    os.chmod(conf, 0o640)


def run_ctl(base, *args):
    argv = [
        sys.executable,
        str(CTL),
        *args,
        "--mode",
        "daemon",
        "--live",
        str(base / "live"),
        "--staging",
        str(base / "staging"),
        "--last-good",
        str(base / "last-good"),
        "--pid-file",
        str(base / "run" / "mosquitto.pid"),
        "--files",
        FILES,
        "--timeout",
        "10",
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_scratch_config_moves_listeners_and_paths():
    text, probes = ctl.scratch_config(
        "pid_file /run/x.pid\nlistener 8883\ncafile /etc/mosquitto/certs/ca.crt\n"
        "log_dest file /var/log/x\nlistener 1883 127.0.0.1\nacl_file /etc/mosquitto/acl\n",
        "/etc/mosquitto",
        "/etc/mosquitto/.staging",
    )
    assert "pid_file" not in text
    assert "log_dest file" not in text
    assert "cafile /etc/mosquitto/.staging/certs/ca.crt" in text
    assert "acl_file /etc/mosquitto/.staging/acl" in text
    assert len(probes) == 2
    assert "8883" not in text
    assert all(f"listener {port} 127.0.0.1" in text for port, _host, _tls, _protocol in probes)


def test_parse_listeners_tells_tls_and_protocol_per_block():
    conf = (
        "listener 8883\ncertfile /etc/mosquitto/certs/server.crt\n"
        "listener 1883 127.0.0.1\nprotocol mqtt\n"
        "listener 9001 127.0.0.1\nprotocol websockets\n"
    )
    assert ctl.parse_listeners(conf) == [
        (8883, "", True, "mqtt"),
        (1883, "127.0.0.1", False, "mqtt"),
        (9001, "127.0.0.1", False, "websockets"),
    ]


def test_a_zombie_is_not_running():
    # A `mosquitto -d` that exited stays a zombie until init reaps it (here PID 1 takes over a second): the helper
    # must not wait for that, nor count it as running.
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert ctl.process_alive(child.pid)
        child.kill()
        for _attempt in range(200):
            with open(f"/proc/{child.pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            threading.Event().wait(0.01)
        assert os.path.exists(f"/proc/{child.pid}")  # not reaped yet
        assert not ctl.process_alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not ctl.process_alive(child.pid)


def _server(behaviour):
    """A loopback TCP server that accepts one connection and then stays silent or closes it."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve():
        conn, _addr = listener.accept()
        if behaviour == "close":
            conn.close()
        else:
            conn.recv(1024)
            threading.Event().wait(2)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener


@pytest.mark.parametrize("behaviour", ["silent", "close"])
def test_an_open_port_alone_is_not_an_answer(behaviour):
    # A broker about to exit over a bad listener setting has its socket open: connects succeed, nothing answers.
    listener = _server(behaviour)
    try:
        port = listener.getsockname()[1]
        assert not ctl.answers(port, "127.0.0.1", tls=True, timeout=0.5)
    finally:
        listener.close()


def test_validate_accepts_a_good_candidate(tree):
    result = run_ctl(tree["base"], "validate")
    assert result.returncode == 0, result.stderr
    assert "valid: mosquitto" in result.stdout


def test_validate_waits_for_every_listener_to_answer(tree):
    # A TLS listener, a plain MQTT one and a plain websockets one: each is asked in its own protocol.
    conf = tree["base"] / "staging" / "mosquitto.conf"
    extra = [_free_port(), _free_port()]
    conf.write_text(
        conf.read_text() + f"\nlistener {extra[0]} 127.0.0.1\n\nlistener {extra[1]} 127.0.0.1\nprotocol websockets\n"
    )
    result = run_ctl(tree["base"], "validate")
    assert result.returncode == 0, result.stderr
    answered = result.stdout.rsplit("answered on ", 1)[1].strip().split(", ")
    assert len(answered) == 3


def test_validate_rejects_a_bad_listener(tree):
    write_conf(tree["base"], "staging", tree["port"], tls_version="tlsv0.9")
    result = run_ctl(tree["base"], "validate")
    assert result.returncode == 1
    assert "tlsv0.9" in result.stderr


def test_validate_rejects_a_key_that_does_not_match(tree, pki):
    shutil.copyfile(pki / "other" / "ca.key", tree["base"] / "staging" / "certs" / "server.key")
    result = run_ctl(tree["base"], "validate")
    assert result.returncode == 1, result.stdout
    assert "did not come up" in result.stderr


def test_daemon_lifecycle_reload_keeps_pid_and_bad_restart_rolls_back(tree):
    base = tree["base"]
    started = run_ctl(base, "ensure-running")
    assert started.returncode == 0, started.stderr
    assert "started" in started.stdout.split()
    pid = run_ctl(base, "status").stdout
    assert pid.startswith("running pid")
    assert (base / "last-good" / "mosquitto.conf").exists()

    again = run_ctl(base, "ensure-running")
    assert again.stdout.split() == ["running"]

    reloaded = run_ctl(base, "reload")
    assert reloaded.returncode == 0, reloaded.stderr
    assert run_ctl(base, "status").stdout == pid  # SIGHUP, same process

    # A live config that cannot run: the restart fails, the last good one comes back, the broker is up.
    write_conf(base, "live", tree["port"], tls_version="tlsv0.9")
    broken = run_ctl(base, "restart")
    assert broken.returncode == 1
    assert "restored the last good config" in broken.stderr
    assert "broker up" in broken.stderr
    assert "tlsv0.9" not in (base / "live" / "mosquitto.conf").read_text()
    assert run_ctl(base, "status").returncode == 0

    stopped = run_ctl(base, "stop")
    assert stopped.stdout.strip() == "stopped"
    assert run_ctl(base, "status").returncode == 3
