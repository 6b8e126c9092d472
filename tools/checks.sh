#!/usr/bin/env bash
# Runs the project's checks and prints which ran and how each ended.
#   tools/checks.sh all | lint | sanity | unit | integration | molecule | build
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
failed=0
run() {  # run NAME COMMAND...
    local name=$1
    shift
    echo
    echo "=== check: $name"
    local start=$SECONDS
    if "$@"; then
        results+=("PASS  $name ($((SECONDS - start)) s)")
    else
        results+=("FAIL  $name ($((SECONDS - start)) s)")
        failed=$((failed + 1))
    fi
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
    rsync -a --exclude .git --exclude .build --exclude .venv --exclude '__pycache__' --exclude '.*_cache' \
        --exclude tests/output --exclude .demo --exclude .bench "$ROOT/" "$dest/" || return 1
    local pip_version cache
    pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',/\1/p" "$(python -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py")
    [ -n "$pip_version" ] || { echo "cannot tell which pip ansible-test bootstraps"; return 1; }
    cache=~/.ansible/test/cache
    mkdir -p "$cache" && cp tools/ansible-test-get-pip.py "$cache/get_pip_${pip_version//./_}.py" || return 1
    local rc=0
    (cd "$dest" && ansible-test sanity --python 3.11 --venv --color no) || rc=1
    rm -rf "$scratch"
    return $rc
}

check_unit() { pytest -q -p no:cacheprovider tests/unit; }
check_integration() { pytest -q -p no:cacheprovider -m integration tests/integration; }
check_molecule() {
    local scenario rc=0
    for scenario in molecule/*/molecule.yml; do
        [ -e "$scenario" ] || continue
        scenario=$(basename "$(dirname "$scenario")")
        molecule test -s "$scenario" || rc=1
    done
    return $rc
}

check_build() {
    local out=$ROOT/.build/dist inst=$ROOT/.build/install
    rm -rf "$out" "$inst"
    mkdir -p "$out" "$inst"
    ansible-galaxy collection build --force --output-path "$out" . || return 1
    ansible-galaxy collection install --offline -p "$inst" "$out"/whatwatt-secure_mqtt-*.tar.gz || return 1
    local m rc=0 n=0
    for m in plugins/modules/*.py; do
        m=$(basename "$m" .py)
        [ "$m" = __init__ ] && continue
        n=$((n + 1))
        if ANSIBLE_COLLECTIONS_PATH="$inst" ansible-doc "whatwatt.secure_mqtt.$m" >/dev/null; then
            echo "ansible-doc whatwatt.secure_mqtt.$m from the installed tarball: ok"
        else
            echo "ansible-doc whatwatt.secure_mqtt.$m from the installed tarball: FAILED"
            rc=1
        fi
    done
    [ "$n" -gt 0 ] || { echo "no module found"; return 1; }
    return $rc
}

what=${1:-all}
case $what in
    lint) run ruff check_ruff; run yamllint check_yamllint; run ansible-lint check_ansible_lint
          run changelog-lint check_changelog ;;
    sanity) run ansible-test-sanity check_sanity ;;
    unit) run pytest-unit check_unit ;;
    integration) run pytest-integration check_integration ;;
    molecule) run molecule check_molecule ;;
    build) run build-install-doc check_build ;;
    all)
        run ruff check_ruff
        run yamllint check_yamllint
        run ansible-lint check_ansible_lint
        run changelog-lint check_changelog
        run build-install-doc check_build
        run pytest-unit check_unit
        run ansible-test-sanity check_sanity
        run pytest-integration check_integration
        run molecule check_molecule
        ;;
    *) echo "unknown check set: $what" >&2; exit 2 ;;
esac

echo
echo "=== summary"
printf '%s\n' "${results[@]}"
echo "checks: $(( ${#results[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
