"""Offline stand-in for the pip bootstrap script ansible-test downloads from ci-files.testing.ansible.com.

ansible-test creates its sanity virtual environments without pip and then runs a "get-pip" script it
fetches from a host these machines cannot reach. This script does the same job from the package
registry that is reachable: Python's bundled pip (ensurepip) installs the exact pip version and
packages ansible-test asks for. tools/checks.sh puts it where ansible-test looks for its cache.
ansible-test runs pip with a trimmed environment (no PIP_CERT), so the machine's CA bundle, when it
has one, is written into the virtual environment's own pip.conf for every later pip call.
"""

import ensurepip
import os
import ssl
import subprocess
import sys

# get-pip's own switches, which pip itself does not know.
OWN = {"--no-setuptools", "--no-wheel"}

candidates = [os.environ.get("PIP_CERT"), "/etc/ssl/certs/ca-certificates.crt", ssl.get_default_verify_paths().cafile]
bundle = next((path for path in candidates if path and os.path.exists(path)), None)
if bundle:
    with open(os.path.join(sys.prefix, "pip.conf"), "w", encoding="utf-8") as conf:
        conf.write(f"[global]\ncert = {bundle}\n")
# ensurepip disables pip's configuration in os.environ (PIP_CONFIG_FILE=/dev/null): keep the real one.
environment = dict(os.environ)
ensurepip.bootstrap(upgrade=True)
args = [arg for arg in sys.argv[1:] if arg not in OWN]
command = [sys.executable, "-m", "pip", "install", "--upgrade", "--force-reinstall", *args]
sys.exit(subprocess.call(command, env=environment))
