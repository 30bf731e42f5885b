#!/usr/bin/env bash
# A ClickHouse cluster on loopback for trying fieldgate's cluster sink by hand, the same one the
# cluster tests start: ZooKeeper and clickhouse-server 18.16 (Debian's `zookeeper` and
# `clickhouse-server` packages), each on free ports with its own data folder.
#   scripts/cluster.sh up [SHARDS] [REPLICAS]   (default 1 shard × 2 replicas; prints the sinks: YAML)
#   scripts/cluster.sh status
#   scripts/cluster.sh down
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${FIELDGATE_CLUSTER_DIR:-/tmp/fieldgate-cluster}
case "${1:-}" in
  up)
    if [ -f "$DIR/cluster.pid" ] && kill -0 "$(cat "$DIR/cluster.pid")" 2>/dev/null; then echo "already up (scripts/cluster.sh status)"; exit 0; fi
    rm -rf "$DIR" && mkdir -p "$DIR"
    nohup node scripts/cluster.mjs "$DIR" "${2:-1}" "${3:-2}" >"$DIR/cluster.log" 2>&1 &
    echo $! >"$DIR/cluster.pid"
    for _ in $(seq 1 120); do
      [ -f "$DIR/cluster.json" ] && { cat "$DIR/cluster.log"; exit 0; }
      kill -0 "$(cat "$DIR/cluster.pid")" 2>/dev/null || { cat "$DIR/cluster.log"; exit 1; }
      sleep 0.5
    done
    echo "the cluster did not come up within 60 s; see $DIR/cluster.log" >&2; exit 1 ;;
  status)
    if [ -f "$DIR/cluster.pid" ] && kill -0 "$(cat "$DIR/cluster.pid")" 2>/dev/null; then cat "$DIR/cluster.json"; else echo "down"; exit 1; fi ;;
  down)
    if [ -f "$DIR/cluster.pid" ]; then
      pid=$(cat "$DIR/cluster.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      rm -f "$DIR/cluster.pid"
    fi
    echo "down" ;;
  *) echo "usage: scripts/cluster.sh up [SHARDS] [REPLICAS] | status | down" >&2; exit 2 ;;
esac
