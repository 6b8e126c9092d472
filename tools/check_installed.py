"""Check a collection installed from its tarball: the version, every plugin's and role's documentation, what the
tarball holds, and the execution-environment metadata.

    python tools/check_installed.py SOURCE_ROOT COLLECTIONS_PATH

COLLECTIONS_PATH must be the only collections path ansible-doc sees (the caller sets ANSIBLE_COLLECTIONS_PATH).
Exits 1 with one line per problem. Every expectation comes from the source tree, so a plugin that is missing
from the tarball, or that ansible-doc cannot load, fails the check.
"""

import glob
import json
import os
import subprocess
import sys

import yaml

FQCN = "whatwatt.secure_mqtt"
# Plugin directories ansible-doc documents, with the -t type. One plugin per .py file, except filters: a filter file
# may hold several, each documented in its own <name>.yml beside it.
DOC_TYPES = {"modules": "module", "inventory": "inventory", "lookup": "lookup", "filter": "filter"}
# What a user installing the tarball needs (relative to the collection root).
REQUIRED_FILES = ["MANIFEST.json", "FILES.json", "README.md", "meta/runtime.yml", "meta/execution-environment.yml",
                  "requirements.txt", "bindep.txt", "CHANGELOG.rst"]  # fmt: skip
# What must not ship: build output, the development pins, caches, the demo's and the benchmark's state.
FORBIDDEN_PREFIXES = (".build/", ".venv/", ".demo/", ".bench/", ".git/", "requirements-dev.txt", "tests/output/")
FORBIDDEN_PARTS = ("__pycache__", ".pytest_cache", ".ruff_cache")


def plugin_names(source, kind):
    names = []
    pattern = "*.yml" if kind == "filter" else "*.py"
    for path in sorted(glob.glob(os.path.join(source, "plugins", kind, pattern))):
        name = os.path.splitext(os.path.basename(path))[0]
        if name != "__init__":
            names.append(name)
    return names


def ansible_doc(doc_type, names):
    if not names:
        return {}
    proc = subprocess.run(["ansible-doc", "--json", "-t", doc_type, *[f"{FQCN}.{n}" for n in names]],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        return {"__error__": proc.stderr.strip() or proc.stdout.strip()}
    return json.loads(proc.stdout or "{}")


def main(source, collections_path):
    problems = []
    root = os.path.join(collections_path, "ansible_collections", "whatwatt", "secure_mqtt")
    if os.path.islink(root) or not os.path.isdir(root):
        return [f"{root} is not an installed collection directory"]
    with open(os.path.join(source, "galaxy.yml"), encoding="utf-8") as handle:
        want_version = yaml.safe_load(handle)["version"]
    manifest_path = os.path.join(root, "MANIFEST.json")
    if not os.path.isfile(manifest_path):
        return [f"{manifest_path} is missing"]
    with open(manifest_path, encoding="utf-8") as handle:
        have_version = json.load(handle)["collection_info"]["version"]
    if have_version != want_version:
        problems.append(f"installed version {have_version}, galaxy.yml says {want_version}")
    print(f"installed {FQCN} {have_version} at {root}")

    for rel in REQUIRED_FILES:
        if not os.path.isfile(os.path.join(root, rel)):
            problems.append(f"the tarball lacks {rel}")
    with open(os.path.join(root, "FILES.json"), encoding="utf-8") as handle:
        shipped = [entry["name"] for entry in json.load(handle)["files"]]
    for name in shipped:
        if name.startswith(FORBIDDEN_PREFIXES) or any(part in name.split("/") for part in FORBIDDEN_PARTS):
            problems.append(f"the tarball ships {name}")
    print(f"tarball: {len(shipped)} entries")

    for kind, doc_type in DOC_TYPES.items():
        names = plugin_names(source, kind)
        docs = ansible_doc(doc_type, names)
        if "__error__" in docs:
            problems.append(f"ansible-doc -t {doc_type} failed: {docs['__error__']}")
            continue
        for name in names:
            entry = docs.get(f"{FQCN}.{name}") or {}
            if not entry.get("doc"):
                problems.append(f"ansible-doc -t {doc_type} {FQCN}.{name}: not documented in the installed collection")
            else:
                print(f"ansible-doc -t {doc_type} {FQCN}.{name}: ok")
    roles = sorted(os.path.basename(p) for p in glob.glob(os.path.join(source, "roles", "*")) if os.path.isdir(p))
    docs = ansible_doc("role", roles)
    for role in roles:
        entry = docs.get(f"{FQCN}.{role}") or {}
        if "main" not in (entry.get("entry_points") or {}):
            problems.append(f"ansible-doc -t role {FQCN}.{role}: no main entry point in the installed collection")
        else:
            print(f"ansible-doc -t role {FQCN}.{role}: ok")
    return problems


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    found = main(sys.argv[1], sys.argv[2])
    for line in found:
        print(f"FAILED: {line}")
    sys.exit(1 if found else 0)
