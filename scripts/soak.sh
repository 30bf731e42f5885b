#!/usr/bin/env bash
# Longer runs than the test suite holds: the QoS 0 flood for 60 s (as the broker issue asks).
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build
FLOOD_SECONDS=${FLOOD_SECONDS:-60} npx vitest run test/broker/flood.test.ts
