"""Discovery benchmark: 1000 emulated meters on a /22 (1022 addresses), found by the inventory plugin.

    make bench-discovery            (or: python tools/bench/discovery.py --count 1000)

Starts the emulator in this process on 127.2.0.1.., writes a *.whatwatt.yml config for 127.2.0.0/22 and times
`ansible-inventory --list` end to end (Ansible's start-up included). Prints one line and exits 1 when the meters
found are not exactly the emulated ones. Loopback range: 127.2.x.y.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from whatwatt_emulator import Fleet  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--network", default="127.2.0.0/22")
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--port", type=int, default=18090)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="whatwatt-discovery-") as base:
        fleet = Fleet(count=args.count, first_ip="127.2.0.1", port=args.port, state_dir=os.path.join(base, "emu"))
        fleet.start(timeout=300)
        try:
            config = os.path.join(base, "bench.whatwatt.yml")
            with open(config, "w", encoding="utf-8") as handle:
                json.dump(dict(plugin="whatwatt.secure_mqtt.meters", networks=[args.network], port=args.port,
                               timeout=2, workers=args.workers), handle)  # fmt: skip
            env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
                       ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false")  # fmt: skip
            start = time.monotonic()
            proc = subprocess.run([os.path.join(ROOT, ".venv", "bin", "ansible-inventory"), "-i", config, "--list"],
                                  env=env, capture_output=True, text=True, check=False)  # fmt: skip
            elapsed = time.monotonic() - start
        finally:
            fleet.stop()
    if proc.returncode != 0:
        print(proc.stderr, file=sys.stderr)
        return 1
    found = len(json.loads(proc.stdout).get("meters", {}).get("hosts", []))
    print(f"discovery: {found} of {args.count} meters on {args.network} in {elapsed:.2f} s "
          f"(ansible-inventory --list, {args.workers} workers, target <= 10 s)")  # fmt: skip
    return 0 if found == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
