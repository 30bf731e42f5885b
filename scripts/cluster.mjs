// Runs a ClickHouse cluster on loopback until SIGTERM/SIGINT: the one the cluster tests start
// (ZooKeeper and clickhouse-server processes from Debian packages). Used by scripts/cluster.sh.
//   node scripts/cluster.mjs DIR [SHARDS] [REPLICAS]
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClickHouseCluster } from '../bench/lib/cluster.mjs';

const [dir, shards = '1', replicas = '2'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/cluster.mjs DIR [SHARDS] [REPLICAS]');
  process.exit(2);
}
const c = await ClickHouseCluster.create({ shards: Number(shards), replicas: Number(replicas), dir });
const info = {
  pid: process.pid,
  cluster: c.name,
  zookeeper: `127.0.0.1:${c.zk.port}`,
  nodes: c.nodes.map((n) => ({ shard: n.shard, replica: n.replica, url: n.server.url, tcp_port: n.server.tcpPort, dir: n.server.dir })),
};
writeFileSync(join(dir, 'cluster.json'), JSON.stringify(info, null, 2) + '\n');
const sinkYaml = `sinks:\n  - { name: local, clickhouse: { } }\n  - name: central\n    clickhouse: { urls: [ ${c.urls.map((u) => `"${u}"`).join(', ')} ], cluster: ${c.name} }\n`;
console.log(
  `cluster ${c.name}: ${shards} shard(s) × ${replicas} replica(s), ZooKeeper on 127.0.0.1:${c.zk.port}\n${c.nodes.map((n) => `  shard ${n.shard} replica ${n.replica}: ${n.server.url}`).join('\n')}\nin a fieldgate config:\n${sinkYaml}`,
);
const stop = async () => {
  await c.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setInterval(() => undefined, 1 << 30);
