#!/usr/bin/env bash
# Longer runs than the test suite holds:
#   - the QoS 0 flood for 60 s (FLOOD_SECONDS), as the broker issue asks;
#   - QoS 1 ingest with faults injected at random for 10 minutes (SOAK_SECONDS): every acknowledged
#     value stored exactly once, no loop stalled; the report line starts with "soak:".
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build
FLOOD_SECONDS=${FLOOD_SECONDS:-60} npx vitest run test/broker/flood.test.ts
SOAK_SECONDS=${SOAK_SECONDS:-600} npx vitest run test/e2e/soak.test.ts --testTimeout=$(( (${SOAK_SECONDS:-600} + 300) * 1000 ))
