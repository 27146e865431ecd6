#!/usr/bin/env bash
# The README's test command: everything CI checks, from a fresh Debian 12 machine with Node.js and npm.
#
#   1. installs what the tests need: apt packages (see scripts/lib.sh) and `npm ci`
#   2. typecheck (tsc --noEmit)
#   3. builds the single-file executable dist/rabbitmq-mqtt and checks it runs (--version)
#      (before the tests: the interop tests drive the compiled binary, found via RABBITMQ_MQTT_BINARY)
#   4. `bun test` over the whole tree: unit (src/), harness (test/support), integration and interop
#      (test/); the integration tests start a private RabbitMQ node themselves (test/support/broker.ts)
#
# The last line of output is always `N passed, N failed`: the tests bun ran plus one check each
# for the typecheck and the build. Exits non-zero if anything failed. `bun test`'s full output
# is kept in .tmp/bun-test.log. Extra arguments go to `bun test` (e.g. a path filter).
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

passed=0
failed=0
failures=()
record() { # record <ok|fail> <what>
  if [ "$1" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)) && failures+=("$2"); fi
}
finish() {
  [ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
  echo "$passed passed, $failed failed"
  exit $((failed > 0))
}

say "installing test dependencies"
if ! ensure_apt_packages "${TEST_APT_PACKAGES[@]}"; then
  record fail "installing apt packages: ${TEST_APT_PACKAGES[*]}"
  finish
fi
if ! ensure_npm_deps; then
  record fail "npm ci"
  finish
fi
export PATH="$PWD/node_modules/.bin:$PATH"

say "typecheck: tsc --noEmit -p ."
if tsc --noEmit -p .; then record ok typecheck; else record fail "typecheck (tsc --noEmit -p .)"; fi

say "build: bun run build, then dist/rabbitmq-mqtt --version"
expected_version="$(node -p 'require("./package.json").version')"
if bun run build && version="$(dist/rabbitmq-mqtt --version </dev/null)" && [ "$version" = "$expected_version" ]; then
  record ok build
else
  record fail "build (dist/rabbitmq-mqtt --version should print $expected_version, got '${version:-nothing}')"
fi
export RABBITMQ_MQTT_BINARY="$PWD/dist/rabbitmq-mqtt"

say "bun test $*"
mkdir -p .tmp
log=.tmp/bun-test.log
# bun prints its summary on stderr: capture both streams.
bun test --timeout 30000 "$@" </dev/null 2>&1 | tee "$log"
bun_status=${PIPESTATUS[0]}
# The summary is the last " N pass" / " N fail" lines bun prints.
test_passed="$(grep -E '^ *[0-9]+ pass$' "$log" | tail -n 1 | tr -dc '0-9')"
test_failed="$(grep -E '^ *[0-9]+ fail$' "$log" | tail -n 1 | tr -dc '0-9')"
if [ -z "$test_passed" ] || [ -z "$test_failed" ]; then
  record fail "bun test printed no pass/fail summary (exit $bun_status); see $log"
else
  passed=$((passed + test_passed))
  failed=$((failed + test_failed))
  [ "$test_failed" -gt 0 ] && failures+=("$test_failed test(s) in bun test; see $log")
  # Non-zero exit with no failed test: an error outside any test (bun counts most as failures).
  if [ "$bun_status" -ne 0 ] && [ "$test_failed" -eq 0 ]; then
    record fail "bun test exited $bun_status with no failing test; see $log"
  fi
fi

finish
