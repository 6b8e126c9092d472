# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate, start, reload and restart Mosquitto for the whatwatt.secure_mqtt ``mosquitto`` role.

Installed by the role as /usr/local/lib/whatwatt-secure-mqtt/mosquittoctl.py, run with python3; stdlib only.

The role renders every broker file (config, ACL, certificates) into a staging directory first.
``validate`` proves the staged set works before anything live changes: ``mosquitto --test-config``
on 2.1+, and on 2.0.x (which cannot validate a file) a scratch broker started on a copy of the
candidate whose listeners are moved to free loopback ports, asked in their protocol until every one
answers (``answers``), and stopped again.
``restart``/``reload``/``ensure-running`` act on the live broker (systemd or a plain daemon with a
pid file), probe it afterwards, snapshot the files that worked into the last-good directory, and
put the last good set back (and the broker up again) when the new one fails.
"""

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

PATH_OPTIONS = ("cafile", "capath", "certfile", "keyfile", "crlfile", "acl_file", "password_file", "dhparamfile")
PATH_PLUGIN_OPTIONS = ("plugin_opt_acl_file", "plugin_opt_password_file")
DROP_OPTIONS = ("pid_file", "log_dest", "persistence", "persistence_location", "persistence_file", "include_dir")


class CtlError(Exception):
    """A failure reported to the caller with exit code 1."""


def log(msg):
    print(msg, flush=True)


# --------------------------------------------------------------------------- config parsing


def parse_listeners(conf_text):
    """Return [(port, address, tls, protocol)] of every ``listener`` block (address '' when none).

    A listener is TLS when its block sets ``certfile``; ``protocol`` is ``mqtt`` unless the block says otherwise.
    """
    result = []
    for line in conf_text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "listener":
            result.append([int(parts[1]), parts[2] if len(parts) > 2 else "", False, "mqtt"])
        elif result and len(parts) >= 2 and parts[0] == "certfile":
            result[-1][2] = True
        elif result and len(parts) >= 2 and parts[0] == "protocol":
            result[-1][3] = parts[1]
    return [tuple(entry) for entry in result]


def probe_address(address):
    """The address to connect to for a listener bound to ``address``."""
    if address in ("", "0.0.0.0", "::", "*"):  # noqa: S104 - wildcard binds are probed on loopback
        return "127.0.0.1"
    return address


def free_port(host="127.0.0.1"):
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def scratch_config(conf_text, live_dir, staging_dir):
    """Rewrite a candidate config to run beside the live broker.

    Listeners move to free loopback ports, file paths under ``live_dir`` point into ``staging_dir``,
    and nothing is persisted, logged to file or written as a pid file. Returns (text, probes), a probe being
    (port, host, tls, protocol) as ``parse_listeners`` gives it.
    """
    live_prefix = live_dir.rstrip("/") + "/"
    staging_prefix = staging_dir.rstrip("/") + "/"
    out = ["log_dest stderr", "persistence false"]
    for line in conf_text.splitlines():
        parts = line.split(None, 1)
        if not parts or parts[0].startswith("#"):
            continue
        key = parts[0]
        value = parts[1].strip() if len(parts) > 1 else ""
        if key in DROP_OPTIONS:
            continue
        if key == "listener":
            out.append(f"listener {free_port()} 127.0.0.1")
            continue
        if key in PATH_OPTIONS + PATH_PLUGIN_OPTIONS and value.startswith(live_prefix):
            value = staging_prefix + value[len(live_prefix) :]
        out.append(f"{key} {value}" if value else key)
    text = "\n".join(out) + "\n"
    return text, parse_listeners(text)


def mosquitto_version(binary):
    """The version string printed by ``mosquitto -h`` (which exits 3)."""
    proc = subprocess.run([binary, "-h"], capture_output=True, text=True, check=False)
    match = re.search(r"mosquitto version (\d+\.\d+\.\d+)", proc.stdout + proc.stderr)
    if not match:
        raise CtlError(f"cannot read the version from '{binary} -h'")
    return match.group(1)


def version_tuple(text):
    return tuple(int(x) for x in text.split("."))


# --------------------------------------------------------------------------- probing


def _client_hello():
    """The first flight of a TLS client (a ClientHello record), made by the ssl module without a socket."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    with contextlib.suppress(ssl.SSLWantReadError):  # it waits for the server's answer: the hello is written
        context.wrap_bio(incoming, outgoing).do_handshake()
    return outgoing.read()


# An MQTT 3.1.1 CONNECT, clean session, client id "whatwatt-probe", no credentials: the broker answers it
# with a CONNACK (a refusal on these listeners, which is still an answer).
_MQTT_CONNECT = bytes([0x10, 26, 0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 10, 0, 14]) + b"whatwatt-probe"


_WS_UPGRADE = (
    b"GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: d2hhdHdhdHQtcHJvYmUhIQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
)


def _first_message(tls, protocol):
    """What to send a listener, and the first bytes its server answers with when it serves."""
    if tls:
        return _client_hello(), (b"\x16", b"\x15")  # a handshake record, or an alert: a TLS stack answered
    if protocol == "websockets":  # an upgrade request (libwebsockets closes a plain GET without a word)
        return _WS_UPGRADE, (b"H",)
    return _MQTT_CONNECT, (b"\x20",)  # CONNACK


def answers(port, host, tls=False, protocol="mqtt", timeout=1.0):
    """True when the server on (host, port) answers a first protocol message (TLS ClientHello, MQTT CONNECT).

    Mosquitto opens each listener's socket before it loads that listener's TLS files and settings, and serves
    no connection before every listener, plugin and file has loaded: a TCP connect also succeeds on a broker
    that is about to exit over a bad ``tls_version`` or a key that does not match; an answer does not.
    """
    message, expected = _first_message(tls, protocol)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(message)
            first = sock.recv(1)
    except OSError:  # refused, reset, timed out: not serving (yet)
        return False
    return first in expected


def wait_ports(probes, alive, timeout):
    """Wait until every listener in ``probes`` (port, host, tls, protocol) answers while ``alive()`` stays true."""
    deadline = time.monotonic() + timeout
    pending = list(probes)
    while time.monotonic() < deadline:
        if not alive():
            return False
        pending = [p for p in pending if not answers(*p)]
        if not pending:
            return alive()
        time.sleep(0.05)
    return False


def same_files(files, dir_a, dir_b):
    for rel in files:
        a = os.path.join(dir_a, rel)
        b = os.path.join(dir_b, rel)
        if not (os.path.exists(a) and os.path.exists(b)):
            return False
        with open(a, "rb") as fa, open(b, "rb") as fb:
            if fa.read() != fb.read():
                return False
    return True


# --------------------------------------------------------------------------- validation


def validate(args):
    """Exit 0 when the staged files would run; print why not otherwise."""
    conf_path = os.path.join(args.staging, args.conf_name)
    with open(conf_path) as handle:
        text, probes = scratch_config(handle.read(), args.live, args.staging)
    version = mosquitto_version(args.mosquitto)
    workdir = tempfile.mkdtemp(prefix="whatwatt-mosquitto-check-")
    try:
        scratch = os.path.join(workdir, "mosquitto.conf")
        with open(scratch, "w") as handle:
            handle.write(text)
        if version_tuple(version) >= (2, 1, 0):
            proc = subprocess.run(
                [args.mosquitto, "--test-config", "-c", scratch], capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                raise CtlError(f"mosquitto {version} --test-config rejected the candidate:\n{proc.stdout}{proc.stderr}")
            # --test-config parses but loads no plugin: a wrong global_plugin path passes it. The scratch
            # broker below loads them, as the live one will.
        errlog = os.path.join(workdir, "broker.log")
        with open(errlog, "w") as err:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv
                [args.mosquitto, "-c", scratch], stdout=err, stderr=subprocess.STDOUT
            )
        try:
            ok = wait_ports(probes, lambda: proc.poll() is None, args.timeout)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if not ok:
            with open(errlog) as handle:
                output = handle.read()
            raise CtlError(f"mosquitto {version}: a scratch broker on the candidate config did not come up:\n{output}")
        checked = "--test-config and a " if version_tuple(version) >= (2, 1, 0) else "a "
        ports = ", ".join(str(p[0]) for p in probes)
        log(f"valid: mosquitto {version}: {checked}scratch broker answered on {ports}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------- the live broker


def process_alive(pid):
    """True while ``pid`` runs. A daemon that exited stays in /proc as a zombie until its parent (init, for a
    ``mosquitto -d``) reaps it, and an init that is not systemd may take seconds (seen: 1.2-1.8 s in a container)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            state = handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class Service:
    """Start/stop/reload the live broker, under systemd or as a daemon with a pid file."""

    def __init__(self, args):
        self.args = args

    # daemon helpers
    def _pid(self):
        if self.args.mode == "systemd":
            out = subprocess.run(
                ["systemctl", "show", "-p", "MainPID", "--value", self.args.unit],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            return int(out) if out.isdigit() and int(out) > 0 else None
        try:
            with open(self.args.pid_file) as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            return None
        try:
            with open(f"/proc/{pid}/comm") as handle:
                if handle.read().strip() != "mosquitto":
                    return None  # stale pid file, the number belongs to someone else now
        except OSError:
            return None
        return pid if process_alive(pid) else None

    def running(self):
        return self._pid() is not None

    def _probes(self):
        with open(os.path.join(self.args.live, self.args.conf_name)) as handle:
            listeners = parse_listeners(handle.read())
        return [(port, probe_address(addr), tls, protocol) for port, addr, tls, protocol in listeners]

    def healthy(self):
        return wait_ports(self._probes(), self.running, self.args.timeout)

    def start(self):
        if self.args.mode == "systemd":
            # The hardening drop-in may have changed in this run (files.yml writes it with the broker's files and
            # restarts in the same module run): systemd must read it before it starts the unit.
            subprocess.run(["systemctl", "daemon-reload"], check=False)
            subprocess.run(["systemctl", "start", self.args.unit], check=False)
        else:
            run_dir = os.path.dirname(self.args.pid_file)
            os.makedirs(run_dir, mode=0o755, exist_ok=True)
            if os.path.exists(self.args.pid_file) and not self.running():
                os.unlink(self.args.pid_file)
            subprocess.run(
                [self.args.mosquitto, "-c", os.path.join(self.args.live, self.args.conf_name), "-d"], check=False
            )
            # `mosquitto -d` returns before the broker is up: watch its pid file instead.
            started = time.monotonic()
            deadline = started + self.args.timeout
            while time.monotonic() < deadline and not self.running():
                written = os.path.exists(self.args.pid_file) and os.path.getsize(self.args.pid_file) > 0
                if written or time.monotonic() - started > 3:
                    time.sleep(0.1)
                    if not self.running():
                        return False  # the broker wrote its pid and died, or never got that far
                time.sleep(0.02)
        return self.healthy()

    def stop(self):
        if self.args.mode == "systemd":
            subprocess.run(["systemctl", "stop", self.args.unit], check=False)
            return
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.args.timeout
        while time.monotonic() < deadline and process_alive(pid):
            time.sleep(0.02)
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        if os.path.exists(self.args.pid_file):
            os.unlink(self.args.pid_file)

    def reload(self):
        pid = self._pid()
        if pid is None:
            return False
        if self.args.mode == "systemd":
            # A failed ExecReload (seen: kill refused under the hardening's capability set) leaves the broker
            # running on the old files: that is a failed reload, not a healthy one.
            done = subprocess.run(["systemctl", "reload", self.args.unit], capture_output=True, text=True, check=False)
            if done.returncode != 0:
                log(f"systemctl reload {self.args.unit} failed: {done.stderr.strip()}")
                return False
        else:
            os.kill(pid, signal.SIGHUP)
        time.sleep(0.5)
        return self._pid() == pid and self.healthy()


def copy_set(files, src_dir, dst_dir):
    """Copy the managed files from src_dir to dst_dir, keeping mode and ownership."""
    for rel in files:
        src = os.path.join(src_dir, rel)
        dst = os.path.join(dst_dir, rel)
        if not os.path.exists(src):
            continue
        parent = os.path.dirname(dst)
        if not os.path.isdir(parent):
            st_parent = os.stat(os.path.dirname(src))
            os.makedirs(parent, mode=0o750, exist_ok=True)
            os.chown(parent, st_parent.st_uid, st_parent.st_gid)
        st = os.stat(src)
        tmp = dst + ".whatwatt-tmp"
        shutil.copyfile(src, tmp)
        os.chown(tmp, st.st_uid, st.st_gid)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.replace(tmp, dst)


def snapshot(args):
    """Keep the live files as the last good set (only when they differ)."""
    if same_files(args.files, args.live, args.last_good):
        return False
    if not os.path.isdir(args.last_good):
        os.makedirs(args.last_good, mode=0o750)
    copy_set(args.files, args.live, args.last_good)
    return True


def rollback(args, service, what):
    """Put the last good files back and start the broker on them, then fail."""
    if not os.path.isdir(args.last_good) or same_files(args.files, args.live, args.last_good):
        service.stop()
        up = service.start()
        raise CtlError(
            "{} failed and no other last-good config exists (broker {})".format(what, "up" if up else "DOWN")
        )
    copy_set(args.files, args.last_good, args.live)
    service.stop()
    up = service.start()
    raise CtlError(
        "{} failed; restored the last good config from {} (broker {})".format(
            what, args.last_good, "up" if up else "DOWN"
        )
    )


def cmd_ensure_running(args):
    service = Service(args)
    if service.running():
        log("running")
    elif service.start():
        log("started")
    else:
        rollback(args, service, "start")
    if snapshot(args):
        log("snapshot")


def cmd_restart(args):
    service = Service(args)
    service.stop()
    if not service.start():
        rollback(args, service, "restart")
    log("restarted")
    snapshot(args)


def cmd_reload(args):
    service = Service(args)
    if not service.running():
        if not service.start():
            rollback(args, service, "start")
        log("started")
    elif not service.reload():
        rollback(args, service, "reload")
    else:
        log("reloaded")
    snapshot(args)


def cmd_stop(args):
    service = Service(args)
    was = service.running()
    service.stop()
    log("stopped" if was else "not running")


def cmd_status(args):
    pid = Service(args)._pid()
    log(f"running pid {pid}" if pid else "not running")
    if pid is None:
        sys.exit(3)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["validate", "ensure-running", "restart", "reload", "stop", "status"])
    parser.add_argument("--mode", choices=["daemon", "systemd"], default="daemon")
    parser.add_argument("--unit", default="mosquitto")
    parser.add_argument("--mosquitto", default="/usr/sbin/mosquitto")
    parser.add_argument("--live", default="/etc/mosquitto")
    parser.add_argument("--staging", default="/etc/mosquitto/.staging")
    parser.add_argument("--last-good", default="/etc/mosquitto/.last-good")
    parser.add_argument("--conf-name", default="mosquitto.conf")
    parser.add_argument("--pid-file", default="/run/mosquitto/mosquitto.pid")
    parser.add_argument(
        "--files",
        default="mosquitto.conf,acl,certs/ca.crt,certs/server.crt,certs/server.key,certs/crl.pem",
        help="comma separated managed files, relative to --live",
    )
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args(argv)
    args.files = [f for f in args.files.split(",") if f]
    handlers = {
        "validate": validate,
        "ensure-running": cmd_ensure_running,
        "restart": cmd_restart,
        "reload": cmd_reload,
        "stop": cmd_stop,
        "status": cmd_status,
    }
    try:
        handlers[args.command](args)
    except CtlError as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
