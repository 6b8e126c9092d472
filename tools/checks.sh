#!/usr/bin/env bash
# Runs the project's checks and prints which ran and how each ended.
#   tools/checks.sh all | lint | sanity | unit | demo | integration | molecule | build | images | newest[-unit|-sanity] | matrix
# Every check runs even when an earlier one failed; the exit status is non-zero when any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$PWD
BIN=$ROOT/.venv/bin
export PATH="$BIN:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.build/collections"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_NOCOLOR=1 PY_COLORS=0 NO_COLOR=1

results=()
failures=()
failed=0
LOGS=$ROOT/.build/logs
run() {  # run NAME COMMAND...
    local name=$1
    shift
    echo
    echo "=== check: $name"
    local start=$SECONDS
    mkdir -p "$LOGS"
    if "$@" 2>&1 | tee "$LOGS/$name.log"; then
        results+=("PASS  $name ($((SECONDS - start)) s)")
    else
        results+=("FAIL  $name ($((SECONDS - start)) s)")
        failed=$((failed + 1))
        failures+=("$name")
    fi
}

# CI shows the end of the output: the summary repeats what failed in each failed check (its whole log stays in
# .build/logs/NAME.log).
print_failures() {
    local name
    for name in "${failures[@]}"; do
        echo
        echo "--- what failed in $name (full log: .build/logs/$name.log)"
        grep -E '^(FAILED|ERROR) |^E   |fatal: \[|FAILED!|Error:|error:|^FAILED: ' "$LOGS/$name.log" | cut -c1-400 | head -n 40 \
            | grep . || tail -n 20 "$LOGS/$name.log" | cut -c1-400
    done
}


check_ruff() { ruff check . && ruff format --check .; }
check_yamllint() { yamllint -s .; }
check_ansible_lint() { ansible-lint --offline --profile production roles playbooks; }
check_changelog() { antsibull-changelog lint; }

check_sanity() {
    # Outside the checkout: inside it, ansible-test would list files through git and skip the copy.
    local scratch dest
    scratch=$(mktemp -d /tmp/whatwatt-sanity.XXXXXX) || return 1
    dest=$scratch/ansible_collections/whatwatt/secure_mqtt
    mkdir -p "$dest" || return 1
    rsync -a --exclude .git --exclude .build --exclude .venv --exclude .venv-newest --exclude '__pycache__' --exclude '.*_cache' \
        --exclude tests/output --exclude .demo --exclude .bench "$ROOT/" "$dest/" || return 1
    local pip_version cache
    pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',/\1/p" "$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py")
    [ -n "$pip_version" ] || { echo "cannot tell which pip ansible-test bootstraps"; return 1; }
    cache=~/.ansible/test/cache
    mkdir -p "$cache" && cp tools/ansible-test-get-pip.py "$cache/get_pip_${pip_version//./_}.py" || return 1
    local rc=0
    (cd "$dest" && ansible-test sanity --python "${1:-3.11}" --venv --color no) || rc=1
    rm -rf "$scratch"
    return $rc
}

check_unit() { pytest -q -p no:cacheprovider tests/unit; }
check_integration() { pytest -q -p no:cacheprovider -m integration tests/integration; }
check_molecule() {
    local scenario rc=0 start
    for scenario in molecule/*/molecule.yml; do
        [ -e "$scenario" ] || continue
        scenario=$(basename "$(dirname "$scenario")")
        start=$SECONDS
        molecule test -s "$scenario" || rc=1
        echo "molecule $scenario: $((SECONDS - start)) s"
    done
    return $rc
}

check_images() {  # the broker test-host images the ssh-* scenarios use (cached: rebuilt only when the recipe changes)
    local suite
    for suite in bookworm trixie sid; do
        tools/images/build.sh "$suite" || return 1
    done
}

# The newest stable ansible-core (.venv-newest, requirements-newest.txt, Python 3.13). The floor is .venv's pin.
NEWEST=$ROOT/.venv-newest/bin
check_newest_unit() { "$NEWEST/pytest" -q -p no:cacheprovider tests/unit; }
check_newest_sanity() { PATH="$NEWEST:$PATH" check_sanity 3.13; }
check_newest_molecule() {  # check_newest_molecule SCENARIO...
    local scenario rc=0 start
    for scenario in "$@"; do
        start=$SECONDS
        PATH="$NEWEST:$PATH" "$NEWEST/molecule" test -s "$scenario" || rc=1
        echo "molecule $scenario on $("$NEWEST/ansible" --version | head -n1): $((SECONDS - start)) s"
    done
    return $rc
}

check_build() {
    # The collection as users get it: built, installed into a scratch path that is the ONLY collections path
    # (the development link must not answer for it), every plugin and role documented from there, the
    # execution-environment metadata read by ansible-builder, then site and verify by FQCN from a fresh
    # virtualenv holding only the runtime requirements (tests/installed).
    local out=$ROOT/.build/dist inst=$ROOT/.build/install
    rm -rf "$out" "$inst"
    mkdir -p "$out" "$inst"
    ansible-galaxy collection build --force --output-path "$out" . || return 1
    ANSIBLE_COLLECTIONS_PATH="$inst" ansible-galaxy collection install --offline --force -p "$inst" \
        "$out"/whatwatt-secure_mqtt-*.tar.gz || return 1
    ANSIBLE_COLLECTIONS_PATH="$inst" python tools/check_installed.py "$ROOT" "$inst" || return 1
    check_ee "$inst" || return 1
    pytest -q -p no:cacheprovider -m installed tests/installed
}

check_ee() {  # check_ee COLLECTIONS_PATH: what an execution environment build would install for the collection
    local inst=$1 scratch rc=0
    scratch=$(mktemp -d /tmp/whatwatt-ee.XXXXXX) || return 1
    ansible-builder introspect "$inst" --write-pip "$scratch/pip.txt" --write-bindep "$scratch/bindep.txt" >/dev/null || rc=1
    # The runtime requirements, and nothing of the development environment.
    if ! { grep -q '^cryptography' "$scratch/pip.txt" && grep -q '^paho-mqtt' "$scratch/pip.txt" \
           && grep -q '^requests' "$scratch/pip.txt"; }; then
        echo "ansible-builder introspect did not find the runtime requirements:"; cat "$scratch/pip.txt"; rc=1
    fi
    if grep -Eq '^(ansible-core|ansible-lint|pytest|molecule|ruff)' "$scratch/pip.txt"; then
        echo "the execution environment would install development tools:"; cat "$scratch/pip.txt"; rc=1
    fi
    grep -q '^openssl' "$scratch/bindep.txt" || { echo "bindep.txt not found by ansible-builder"; rc=1; }
    # docs/execution-environment.yml, as its comment tells users to run it.
    mkdir -p "$scratch/ctx/collections" || rc=1
    cp "$ROOT"/.build/dist/whatwatt-secure_mqtt-*.tar.gz "$scratch/ctx/collections/whatwatt-secure_mqtt.tar.gz" || rc=1
    cp "$ROOT/docs/execution-environment.yml" "$scratch/ctx/execution-environment.yml" || rc=1
    (cd "$scratch/ctx" && ansible-builder create --file execution-environment.yml --output-filename Containerfile \
        --context "$scratch/ctx/context" >/dev/null) || rc=1
    # The generated context carries the tarball and installs it; the collection brings its own requirements.
    local ctx=$scratch/ctx/context
    if ! { grep -q 'ansible-galaxy collection install' "$ctx/Containerfile" \
           && grep -q 'collections/whatwatt-secure_mqtt.tar.gz' "$ctx/_build/requirements.yml" \
           && cmp -s "$ctx/_build/collections/whatwatt-secure_mqtt.tar.gz" "$scratch/ctx/collections/whatwatt-secure_mqtt.tar.gz"; }; then
        echo "ansible-builder create: the context does not install the collection's tarball"; rc=1
    fi
    [ $rc -eq 0 ] && echo "ansible-builder: introspect and create ok ($(wc -l < "$scratch/pip.txt") python requirements)"
    rm -rf "$scratch"
    return $rc
}

check_demo() {  # check_demo [VENV]: `make demo` as a new user runs it (start, readings arrive, stop)
    local rc=0
    WHATWATT_VENV=${1:-$ROOT/.venv} tools/demo.sh start || rc=1
    tools/demo.sh stop || rc=1
    return $rc
}

check_collection_docs() { antsibull-docs lint-collection-docs --plugin-docs .; }

what=${1:-all}
case $what in
    lint) run ruff check_ruff; run yamllint check_yamllint; run ansible-lint check_ansible_lint
          run changelog-lint check_changelog; run collection-docs check_collection_docs ;;
    sanity) run ansible-test-sanity check_sanity ;;
    unit) run pytest-unit check_unit ;;
    integration) run pytest-integration check_integration ;;
    molecule) run molecule check_molecule ;;
    images) run images check_images ;;
    demo) run demo check_demo ;;
    newest) run newest-pytest-unit check_newest_unit; run newest-ansible-test-sanity check_newest_sanity
            run newest-demo check_demo "$ROOT/.venv-newest"
            run newest-molecule-ssh-trixie check_newest_molecule ssh-trixie ;;
    newest-unit) run newest-pytest-unit check_newest_unit ;;
    newest-sanity) run newest-ansible-test-sanity check_newest_sanity ;;
    matrix) run newest-molecule-rest check_newest_molecule ssh-bookworm ssh-sid ;;
    build) run build-install-run check_build ;;
    all)
        run ruff check_ruff
        run yamllint check_yamllint
        run ansible-lint check_ansible_lint
        run changelog-lint check_changelog
        run collection-docs check_collection_docs
        run build-install-run check_build
        run pytest-unit check_unit
        run ansible-test-sanity check_sanity
        run demo check_demo
        run images check_images
        run pytest-integration check_integration
        run molecule check_molecule
        run newest-pytest-unit check_newest_unit
        run newest-ansible-test-sanity check_newest_sanity
        run newest-demo check_demo "$ROOT/.venv-newest"
        run newest-molecule-ssh-trixie check_newest_molecule ssh-trixie
        ;;
    *) echo "unknown check set: $what" >&2; exit 2 ;;
esac

print_failures
echo
echo "=== summary"
printf '%s\n' "${results[@]}"
echo "checks: $(( ${#results[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
