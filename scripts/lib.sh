# Shared by scripts/test, scripts/run and scripts/bench. Sourced, not run.

# A folder outside the checkout, so CI's fresh clones start warm: /var/cache/enkaku/<name>
# where that is writable, else under the user's cache.
cache_dir() {
  local dir=/var/cache/enkaku/$1
  if ! { mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ]; }; then
    dir="${XDG_CACHE_HOME:-$HOME/.cache}/enkaku/$1"
    mkdir -p "$dir"
  fi
  echo "$dir"
}

# Build output, and the tools built for the tests (the tansu broker).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cache_dir target)}"
export ENKAKU_TOOLS="${ENKAKU_TOOLS:-$(cache_dir tools)}"

step() { printf '\n==> %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres: start it if it is down,
# install it from Debian's packages if it is missing.
ensure_postgres() {
  export ENKAKU_TEST_POSTGRES="${ENKAKU_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return; fi
  if ! command -v pg_ctlcluster >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    local conf
    conf=$(ls /etc/postgresql/*/main/pg_hba.conf)
    as_root sed -i -E 's/^(host|local)(.*)(scram-sha-256|md5|peer)$/\1\2trust/' "$conf"
  fi
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start || true
  for _ in $(seq 1 60); do
    pg_isready -q -h 127.0.0.1 -p 5432 && return
    sleep 0.5
  done
  echo "PostgreSQL did not start on 127.0.0.1:5432" >&2
  exit 1
}

# Each test creates its own database enkaku_t_<uuid>; clear those of earlier runs.
drop_test_databases() {
  psql "$ENKAKU_TEST_POSTGRES/postgres" -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'enkaku\_t\_%'" |
    while read -r db; do psql -q "$ENKAKU_TEST_POSTGRES/postgres" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null; done
}

# The Kafka-protocol broker tansu, built once (7-10 minutes) and cached. `libsql` adds its
# file-backed storage engine, which creates its own schema, for the broker-restart test;
# `dynostore` gives `memory://`, `postgres` the engine SPEC §5 names.
TANSU_VERSION=0.6.0
ensure_tansu() {
  export ENKAKU_TANSU="$ENKAKU_TOOLS/bin/tansu"
  local stamp="$ENKAKU_TOOLS/tansu-$TANSU_VERSION-dynostore-postgres-libsql"
  if [ -x "$ENKAKU_TANSU" ] && [ -e "$stamp" ]; then return; fi
  CARGO_TARGET_DIR="$ENKAKU_TOOLS/tansu-target" cargo install --quiet --locked --force \
    --root "$ENKAKU_TOOLS" tansu --version "$TANSU_VERSION" --features dynostore,postgres,libsql
  rm -rf "$ENKAKU_TOOLS/tansu-target"
  touch "$stamp"
}

# The browser tests: Debian's Chromium (never a downloaded browser), a Japanese font so that
# screenshots are legible, and Playwright from the lock file.
ensure_browser() {
  if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi ipagothic; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null ||
      { as_root apt-get update -qq &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic >/dev/null; }
  fi
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
}

# schemathesis, the schema-driven API fuzzer, from PyPI into a virtual environment kept with
# the tools (pinned, so a new release cannot change what the test command checks).
SCHEMATHESIS_VERSION=4.32.5
ensure_schemathesis() {
  local venv="$ENKAKU_TOOLS/schemathesis-$SCHEMATHESIS_VERSION"
  export SCHEMATHESIS="$venv/bin/schemathesis"
  if [ -x "$SCHEMATHESIS" ]; then return; fi
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null ||
      { as_root apt-get update -qq &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" ||
    { rm -rf "$venv"; return 1; }
}

# aiosmtpd, a real SMTP server for the e-mail channel's tests (tests/smtp/server.py), from
# PyPI into its own virtual environment kept with the tools (pinned, like schemathesis).
# tests/src/smtp.rs falls back to this venv's path under /var/cache/enkaku/tools when
# ENKAKU_SMTP_PYTHON is unset: change the version in both places.
AIOSMTPD_VERSION=1.4.6
ensure_aiosmtpd() {
  local venv="$ENKAKU_TOOLS/aiosmtpd-$AIOSMTPD_VERSION"
  export ENKAKU_SMTP_PYTHON="$venv/bin/python"
  if [ -x "$ENKAKU_SMTP_PYTHON" ] && "$ENKAKU_SMTP_PYTHON" -c 'import aiosmtpd' 2>/dev/null; then return; fi
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null ||
      { as_root apt-get update -qq &&
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" ||
    { rm -rf "$venv"; return 1; }
}
