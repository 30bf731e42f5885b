#!/usr/bin/env bash
# Installs what the tests need and runs them: the README's test command and CI's.
#   - Debian's clickhouse-server (a real server the tests start on loopback) and socat (serial line pairs)
#   - npm packages (npm install), including the optional chdb engine
#   - qemu-user-static and arm64 C libraries (the arm64 smoke test)
#   - the test suite (vitest), then the short benchmark guards
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/sbin/clickhouse-server ] || [ -x /usr/bin/clickhouse-server ] || need_apt+=(clickhouse-server)
command -v socat >/dev/null || need_apt+=(socat)   # pseudo-terminal pairs for the Modbus RTU tests
command -v systemd-analyze >/dev/null || need_apt+=(systemd)   # the unit's exposure score
# arm64 smoke test: qemu user-mode emulation and the arm64 C libraries
command -v qemu-aarch64-static >/dev/null || need_apt+=(qemu-user-static)
dpkg -s libc6:arm64 >/dev/null 2>&1 || { need_apt+=(libc6:arm64 libstdc++6:arm64); add_arm64=1; }
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "needs Debian packages: ${need_apt[*]} (run as root, or: sudo apt-get install -y ${need_apt[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if [ -n "${add_arm64:-}" ]; then dpkg --add-architecture arm64; fi
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Not `npm ci`: chdb lists optional engine packages for every platform and the registry here
# serves only the linux-x64 one, so the lock file cannot name the others and `npm ci` refuses
# it as out of sync. `npm install` installs exactly what the lock file pins, skips the rest.
npm install --no-audit --no-fund
npm test

npm run bench:short
