"""Run on a broker host: where are copies of its server key, of the CA key, and of any private key?

    key_copies.py LIVE_KEY CA_KEY_SHA256

Prints JSON: {"server_key": [...], "ca_key": [...], "private_keys": [...]}, each entry
{"path", "mode", "owner", "group"}. Copies are found by content, wherever they are, not by name.
"""

import grp
import hashlib
import json
import os
import pwd
import stat
import sys

ROOTS = ["/etc", "/var", "/usr/local", "/root", "/home", "/opt", "/srv", "/tmp", "/run"]
MAX_SIZE = 64 * 1024  # keys are small; big files are not keys
PEM_KEY = b"PRIVATE " + b"KEY-----"  # split, so this file is not a match of its own


def describe(path, st):
    """Path, octal mode and owner names of one file."""
    return {
        "path": path,
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
        "owner": pwd.getpwuid(st.st_uid).pw_name,
        "group": grp.getgrgid(st.st_gid).gr_name,
    }


def scan(live_key, ca_sha256):
    """Walk ROOTS once; classify every small regular file by its content."""
    with open(live_key, "rb") as handle:
        server_sha256 = hashlib.sha256(handle.read()).hexdigest()
    found = {"server_key": [], "ca_key": [], "private_keys": []}
    for root in ROOTS:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if not os.path.ismount(os.path.join(dirpath, d))]
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_SIZE:
                        continue
                    with open(path, "rb") as handle:
                        data = handle.read()
                except OSError:
                    continue
                digest = hashlib.sha256(data).hexdigest()
                if digest == server_sha256:
                    found["server_key"].append(describe(path, st))
                if digest == ca_sha256:
                    found["ca_key"].append(describe(path, st))
                if PEM_KEY in data:
                    found["private_keys"].append(describe(path, st))
    return found


if __name__ == "__main__":
    print(json.dumps(scan(sys.argv[1], sys.argv[2]), sort_keys=True))
