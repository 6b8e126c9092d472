"""Free TCP ports on loopback addresses, waiting for a listener, and ending a server process."""

import socket
import subprocess
import time


def free_port(host="127.0.0.1"):
    """A port nobody listens on at ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_port(host, port, timeout=10.0):
    """Wait until something accepts TCP connections on host:port; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port}") from None
            time.sleep(0.05)


def terminate(proc, timeout=10.0):
    """SIGTERM ``proc`` (a Popen) and wait ``timeout`` seconds for it; SIGKILL it when it does not go."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
