"""A bounded burst of hostile connection attempts on the broker's TLS port, from a process of its own.

python burst.py HOST PORT CAFILE SECONDS CONCURRENCY IDLE [CERT KEY]

For SECONDS, CONCURRENCY workers each make one TLS handshake after another (at most 20000 in all), every
other one without a client certificate, the rest with CERT/KEY (a certificate the broker must refuse), each
followed by an MQTT CONNECT when the handshake gets that far. Before that, IDLE plain TCP connections are
opened and held, without a byte sent, until the burst ends.
Prints one JSON line: attempts, idle_held, seconds, accepted (a CONNACK 0: must stay 0), refused.
"""

import concurrent.futures
import json
import socket
import ssl
import sys
import threading
import time

MAX_ATTEMPTS = 20000

CONNECT = bytes.fromhex("101000044d5154540402003c0004") + b"test"  # MQTT 3.1.1 CONNECT, client id "test"


def one(host, port, cafile, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(cert, key)
    try:
        with socket.create_connection((host, port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
            tls.sendall(CONNECT)
            answer = tls.recv(4)
            if len(answer) == 4 and answer[0] == 0x20 and answer[3] == 0:
                return "accepted"
            return "refused"
    except (ssl.SSLError, ConnectionError, TimeoutError, OSError):
        return "refused"


def main(argv):
    host, port, cafile, seconds, concurrency, idle = argv[:6]
    cert, key = (argv[6], argv[7]) if len(argv) > 7 else (None, None)
    port, seconds, concurrency, idle = int(port), float(seconds), int(concurrency), int(idle)
    held = []
    for _index in range(idle):
        try:
            held.append(socket.create_connection((host, port), timeout=5))
        except OSError:
            break
    start = time.monotonic()
    deadline = start + seconds
    counts = {"accepted": 0, "refused": 0}
    lock = threading.Lock()

    def worker(index):
        done = 0
        while time.monotonic() < deadline and done < MAX_ATTEMPTS // concurrency:
            use_cert = (index + done) % 2 == 1
            outcome = one(host, port, cafile, cert if use_cert else None, key if use_cert else None)
            with lock:
                counts[outcome] += 1
            done += 1

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, range(concurrency)))
    seconds = time.monotonic() - start
    attempts = counts["accepted"] + counts["refused"]
    for sock in held:
        sock.close()
    print(json.dumps(dict(attempts=attempts, idle_held=len(held), seconds=round(seconds, 2), **counts)))


if __name__ == "__main__":
    main(sys.argv[1:])
