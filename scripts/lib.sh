# Shared by scripts/test.sh and scripts/start.sh (sourced, not run).
# Every step is idempotent: it checks first and only installs or starts what is missing.

# Packages `bun test` needs beyond npm's: a RabbitMQ for the integration tests, and the
# clients and tools the interop tests drive (use /usr/bin/python3 for paho and pika).
TEST_APT_PACKAGES=(rabbitmq-server mosquitto mosquitto-clients python3-paho-mqtt python3-pika openssl)

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs "$@" as root: directly when we are root, else through sudo; fails saying what to run otherwise.
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    printf 'error: need root (or sudo) to run: %s\n' "$*" >&2
    return 1
  fi
}

# Installs the given Debian packages that are not installed yet (apt-get update first, once).
ensure_apt_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    say "not a Debian system (no dpkg-query): make sure these are installed: $*"
    return 0
  fi
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing with apt-get: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# `npm ci` when node_modules is missing or older than package-lock.json (npm ci deletes
# node_modules first, so it must not run on every invocation of a working tree).
ensure_npm_deps() {
  command -v npm >/dev/null 2>&1 || die "npm is not installed: install Node.js and npm first (apt-get install nodejs npm)"
  if [ -x node_modules/.bin/bun ] && [ -f node_modules/.package-lock.json ] &&
    [ ! package-lock.json -nt node_modules/.package-lock.json ]; then
    return 0
  fi
  say "npm ci (installs Bun, TypeScript and the dependencies from package-lock.json)"
  npm ci --no-audit --no-fund </dev/null
}

# True when something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp, no extra tools).
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
