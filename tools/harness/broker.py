"""A real Mosquitto with a mutual-TLS listener, on a loopback address, for tests.

with MosquittoBroker(tmp_path, pki.ca.cert_path, pki.server.cert_path, pki.server.key_path,
                     host="127.0.20.1") as broker:
    broker.port  # the mTLS listener
"""

import os
import shutil
import signal
import subprocess
import time

from .ports import free_port, terminate, wait_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class MosquittoBroker:
    """Start/stop a mosquitto process; ``require_certificate`` and ``use_identity_as_username`` on."""

    def __init__(self, workdir, cafile, certfile, keyfile, host="127.0.0.1", port=None, acl=None,
                 crlfile=None, tls_version="tlsv1.2", extra_config="", env=None):  # fmt: skip
        self.workdir = os.path.abspath(str(workdir))
        self.cafile, self.certfile, self.keyfile = cafile, certfile, keyfile
        self.host = host
        self.port = port or free_port(host)
        self.acl = acl
        self.crlfile = crlfile
        self.tls_version = tls_version
        self.extra_config = extra_config
        self.env = env  # extra environment, e.g. libfaketime's LD_PRELOAD + FAKETIME to move the broker's clock
        self.proc = None
        self.conf_path = os.path.join(self.workdir, "mosquitto.conf")
        self.log_path = os.path.join(self.workdir, "mosquitto.log")

    def config_text(self):
        lines = [
            "per_listener_settings false",
            "persistence false",
            "user root" if os.geteuid() == 0 else "",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "allow_anonymous false",
            f"listener {self.port} {self.host}",
            "protocol mqtt",
            f"cafile {self.cafile}",
            f"certfile {self.certfile}",
            f"keyfile {self.keyfile}",
            "require_certificate true",
            "use_identity_as_username true",
            f"tls_version {self.tls_version}",
        ]
        if self.crlfile:
            lines.append(f"crlfile {self.crlfile}")
        if self.acl is not None:
            acl_path = os.path.join(self.workdir, "acl")
            with open(acl_path, "w", encoding="utf-8") as handle:
                handle.write(self.acl)
            lines.append(f"acl_file {acl_path}")
        lines.append(self.extra_config)
        return "\n".join(line for line in lines if line) + "\n"

    def start(self, timeout=10.0):
        os.makedirs(self.workdir, exist_ok=True)
        with open(self.conf_path, "w", encoding="utf-8") as handle:
            handle.write(self.config_text())
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", self.conf_path],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, **self.env) if self.env else None,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read()} {self.log()}")
                try:
                    wait_port(self.host, self.port, timeout=0.2)
                    break
                except TimeoutError:
                    if time.monotonic() > deadline:
                        raise
        except BaseException:
            self.stop()
            raise
        return self

    def reload(self):
        """SIGHUP: re-read certfile/keyfile/crlfile, acl."""
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc is None:
            return
        terminate(self.proc, 10)
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
