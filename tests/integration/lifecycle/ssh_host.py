"""A broker test host as users have one: a container built by tools/images/build.sh, reached over SSH.

The container shares this machine's network (tools/images/host.sh): sshd on ADDRESS:SSH_PORT only, the broker on
the port its configuration names. Images: bookworm and trixie boot systemd as PID 1; sid runs tini + sshd (no init).
"""

import os
import subprocess
import time

from tests.integration.lifecycle.fleet import ROOT, Fleet

IMAGES = os.path.join(ROOT, "tools", "images")
SSH_OPTIONS = ["StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR"]


class BrokerHost:
    def __init__(self, base, suite, container, address, ssh_port=2222):
        self.suite, self.container, self.address, self.ssh_port = suite, container, address, ssh_port
        self.key = os.path.join(str(base), f"id_ed25519-{container}")

    @property
    def inventory_vars(self):
        """The broker host's inventory variables, as a user would write them."""
        return {
            "ansible_host": self.address,
            "ansible_port": self.ssh_port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": self.key,
            "ansible_ssh_common_args": " ".join(f"-o {option}" for option in SSH_OPTIONS),
            "ansible_python_interpreter": "/usr/bin/python3",
        }

    def start(self, timeout=120):
        image = _run(os.path.join(IMAGES, "build.sh"), self.suite).stdout.split()[-1]
        if not os.path.exists(self.key):
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.container, "-f", self.key)
        _run(os.path.join(IMAGES, "host.sh"), "start", self.container, image, self.address, str(self.ssh_port),
             f"{self.key}.pub")  # fmt: skip
        self.systemd = self.suite in ("bookworm", "trixie")
        # systemd hosts: wait until boot is done (is-system-running --wait); the no-init host: until sshd answers.
        ready = "systemctl is-system-running --wait || true" if self.systemd else "echo running"
        deadline = time.monotonic() + timeout
        while True:
            proc = self.ssh(ready)
            if proc.returncode == 0 and proc.stdout.strip() in ("running", "degraded"):
                return self
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.container} did not come up over SSH: {proc.stdout} {proc.stderr}")
            time.sleep(1)

    def remove(self):
        subprocess.run([os.path.join(IMAGES, "host.sh"), "rm", self.container], check=False)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.remove()
            raise

    def __exit__(self, *exc_info):
        self.remove()

    def fleet(self, base, names, first_ip, broker_port):
        """The playbook suite's world (lifecycle.fleet.Fleet) with this host as its only broker."""
        return Fleet(base, names, first_ip=first_ip, broker_ip=self.address, broker_vars=self.inventory_vars,
                     broker_port=broker_port)  # fmt: skip

    def ssh(self, command, timeout=300):
        argv = ["ssh", "-i", self.key, "-p", str(self.ssh_port), *(f"-o{option}" for option in SSH_OPTIONS),
                "-oBatchMode=yes", "-oConnectTimeout=3", f"root@{self.address}", command]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)

    def shell(self, command, timeout=300, context=""):
        """Run a command on the host; its stdout. Fails naming the command (and ``context``) when it fails."""
        proc = self.ssh(command, timeout=timeout)
        assert proc.returncode == 0, (
            f"{command}: rc={proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}\n{context}"
        )
        return proc.stdout


def _run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True)
