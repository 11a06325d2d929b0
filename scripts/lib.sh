# Shared by scripts/run and scripts/test.

ensure_debian_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    # The package's own service is not needed: tests start private servers.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

ensure_venv() {
    # pip runs only when needed: the install is editable, so it follows the code; only a
    # new virtualenv, another pyproject.toml (dependencies, entry points) or other extras
    # need it again. The stamp lives in .venv, so it goes when the virtualenv goes.
    local target="$1"
    local stamp=".venv/.installed-${target//[^a-z]/_}"
    local want
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    [ -x .venv/bin/python ] || python3 -m venv .venv
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    echo "installing maildesk ($target) into .venv"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e "$target"
    printf '%s\n' "$want" > "$stamp"
}
