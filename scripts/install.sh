#!/bin/sh
# Installs a downloaded rabbitmq-mqtt next to the local RabbitMQ and starts it with
# rabbitmq-server: checks the binary runs here, then hands over to `rabbitmq-mqtt enable`,
# which does the work (and prints every path it touches).
#
#   sudo scripts/install.sh [--binary ./rabbitmq-mqtt] [--root DIR] [--dry-run] [--force]
#
# Without --binary it uses ./rabbitmq-mqtt, else a rabbitmq-mqtt next to this script, else
# ../dist/rabbitmq-mqtt (a source checkout after `bun run build`).
# Exit codes: 0 done, 64 bad usage, 77 not root, 69 binary unusable, else enable's.
# Uninstall: sudo rabbitmq-mqtt disable (keeps /etc/rabbitmq/rabbitmq_mqtt.conf).
set -eu

me=$(basename "$0")
given="$*" # for messages: the command line as typed

usage() {
  cat <<EOF
usage: sudo $me [--binary PATH] [--root DIR] [--dry-run] [--force]

  --binary PATH  the rabbitmq-mqtt executable to install (default: ./rabbitmq-mqtt)
  --root DIR     install under DIR instead of / (no root needed; systemctl is not run)
  --dry-run      print what would be done, change nothing (no root needed)
  --force        install even if RabbitMQ's own MQTT plugin uses the same port
EOF
}

fail() {
  # fail CODE MESSAGE
  code=$1
  shift
  printf '%s: %s\n' "$me" "$*" >&2
  exit "$code"
}

binary=""
root=""
have_root=0
dry_run=0
force=0
while [ $# -gt 0 ]; do
  case $1 in
    --binary)
      [ $# -ge 2 ] || fail 64 "--binary needs a path"
      binary=$2
      shift 2
      ;;
    --binary=*)
      binary=${1#--binary=}
      shift
      ;;
    --root)
      [ $# -ge 2 ] || fail 64 "--root needs a directory"
      root=$2
      have_root=1
      shift 2
      ;;
    --root=*)
      root=${1#--root=}
      have_root=1
      shift
      ;;
    --dry-run)
      dry_run=1
      shift
      ;;
    --force)
      force=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      fail 64 "unknown option: $1"
      ;;
  esac
done

if [ -z "$binary" ]; then
  here=$(dirname "$0")
  for candidate in ./rabbitmq-mqtt "$here/rabbitmq-mqtt" "$here/../dist/rabbitmq-mqtt"; do
    if [ -f "$candidate" ]; then
      binary=$candidate
      break
    fi
  done
  [ -n "$binary" ] || fail 64 "no rabbitmq-mqtt binary in the current directory; pass --binary PATH"
fi
[ -f "$binary" ] || fail 69 "$binary: no such file; pass --binary PATH to the downloaded rabbitmq-mqtt"
# A bare name would be looked up on PATH by the shell, not taken from here.
case $binary in
  */*) ;;
  *) binary=./$binary ;;
esac

if [ "$have_root" -eq 0 ] && [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  fail 77 "must run as root to install into /usr/lib, /usr/sbin and /etc: sudo $0${given:+ $given}; or try --dry-run first"
fi

if [ ! -x "$binary" ]; then
  # Downloads arrive without the execute bit.
  [ "$dry_run" -eq 0 ] || fail 69 "$binary is not executable; chmod +x $binary first (a dry run changes nothing)"
  chmod +x "$binary"
  echo "made $binary executable (chmod +x)"
fi

# rabbitmq-mqtt --version prints its version alone (e.g. 0.1.0); anything else is another program.
version=$("$binary" --version 2>/dev/null) || version=""
case $version in
  [0-9]*.[0-9]*.[0-9]*) ;;
  *) fail 69 "$binary does not run on this machine ($(uname -m)) or is not rabbitmq-mqtt: its --version printed no version" ;;
esac
echo "installing rabbitmq-mqtt $version from $binary"

set -- enable --binary "$binary"
if [ "$have_root" -eq 1 ]; then set -- "$@" --root "$root"; fi
if [ "$dry_run" -eq 1 ]; then set -- "$@" --dry-run; fi
if [ "$force" -eq 1 ]; then set -- "$@" --force; fi
exec "$binary" "$@"
