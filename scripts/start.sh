#!/usr/bin/env bash
# The README's start command: make sure a local RabbitMQ runs, then run the adapter in the foreground.
#
#   1. installs rabbitmq-server with apt if it is missing, and the npm dependencies (npm ci) if needed
#   2. starts the local RabbitMQ if nothing answers on 127.0.0.1:5672 (systemctl when systemd runs,
#      else `rabbitmq-server -detached`), and waits until its AMQP port opens
#   3. runs `bun src/cli/main.ts start "$@"` in the foreground (e.g. `--config FILE`)
#
# Set RABBITMQ_START_TIMEOUT_SECONDS to wait longer than 90 s for RabbitMQ to boot.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

amqp_port=5672
timeout_seconds="${RABBITMQ_START_TIMEOUT_SECONDS:-90}"

ensure_apt_packages rabbitmq-server || die "could not install rabbitmq-server"
ensure_npm_deps || die "npm ci failed"

if port_open "$amqp_port"; then
  say "RabbitMQ already listens on 127.0.0.1:$amqp_port"
else
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    say "starting RabbitMQ: systemctl start rabbitmq-server"
    as_root systemctl start rabbitmq-server || die "systemctl start rabbitmq-server failed (see: journalctl -u rabbitmq-server)"
  else
    # No systemd (e.g. a container): Debian's wrapper runs the node as the rabbitmq user.
    say "starting RabbitMQ: rabbitmq-server -detached"
    as_root /usr/sbin/rabbitmq-server -detached </dev/null || die "rabbitmq-server -detached failed (see /var/log/rabbitmq/)"
  fi
  say "waiting up to ${timeout_seconds}s for RabbitMQ to accept AMQP on 127.0.0.1:$amqp_port"
  waited=0
  until port_open "$amqp_port"; do
    [ "$waited" -ge "$timeout_seconds" ] &&
      die "RabbitMQ did not open 127.0.0.1:$amqp_port within ${timeout_seconds}s; see /var/log/rabbitmq/ (set RABBITMQ_START_TIMEOUT_SECONDS to wait longer)"
    sleep 1
    waited=$((waited + 1))
  done
  say "RabbitMQ is up after ${waited}s"
fi

# The native plugin would hold the MQTT ports this adapter wants (1883, 8883, 15675).
if grep -qs 'rabbitmq_mqtt\|rabbitmq_web_mqtt' /etc/rabbitmq/enabled_plugins; then
  say "warning: RabbitMQ's own rabbitmq_mqtt plugin is enabled (/etc/rabbitmq/enabled_plugins); it listens on the MQTT ports this adapter uses. Disable it: rabbitmq-plugins disable rabbitmq_mqtt rabbitmq_web_mqtt"
fi

# The retained store defaults to RabbitMQ's data directory (/var/lib/rabbitmq/mqtt-retained), which
# only root or the rabbitmq user may write: elsewhere keep it in the work tree, and say so.
if [ -z "${RABBITMQ_MQTT_RETAINED__DIR:-}" ] && [ "$(id -u)" -ne 0 ]; then
  export RABBITMQ_MQTT_RETAINED__DIR="$PWD/.tmp/retained"
  mkdir -p "$RABBITMQ_MQTT_RETAINED__DIR"
  say "not root: retained messages are kept in $RABBITMQ_MQTT_RETAINED__DIR (RABBITMQ_MQTT_RETAINED__DIR)"
fi
# Likewise the admin socket (`rabbitmq-mqtt status`): /run/rabbitmq-mqtt exists only under systemd.
if [ -z "${RABBITMQ_MQTT_ADMIN_SOCKET:-}" ] && [ ! -d /run/rabbitmq-mqtt ]; then
  mkdir -p "$PWD/.tmp"
  export RABBITMQ_MQTT_ADMIN_SOCKET="$PWD/.tmp/admin.sock"
  say "admin socket: $RABBITMQ_MQTT_ADMIN_SOCKET (rabbitmq-mqtt status --socket $RABBITMQ_MQTT_ADMIN_SOCKET)"
fi

say "running the adapter: bun src/cli/main.ts start $*"
exec node_modules/.bin/bun src/cli/main.ts start "$@"
