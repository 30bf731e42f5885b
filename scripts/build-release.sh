#!/bin/sh
# The release build: what the Dockerfile runs, and what CI runs outside Docker
# (no Docker engine on the build machines) to check it.
#   WITH_CHDB=false  leaves out the embedded engine (server sink only)
set -eu
# npm install, not npm ci: the lock file names only the chdb engine package of the platform it was
# made on (the registry here serves no other), so npm ci would refuse it as out of sync.
npm install --no-audit --no-fund
npm run build
npm prune --omit=dev --no-audit --no-fund
if [ "${WITH_CHDB:-true}" != "true" ]; then
  rm -rf node_modules/chdb node_modules/@chdb
fi
