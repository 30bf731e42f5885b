// A real ClickHouse cluster on loopback from Debian packages: one ZooKeeper and
// several clickhouse-server 18.16 processes, each on its own ports and data
// folder, laid out as shards × replicas under one cluster name. Tests, the
// cluster benchmark and `scripts/cluster.sh up|down` start it the same way.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { ClickHouseServer } from './clickhouse-server.mjs';
import { freePort, sleep } from './proc.mjs';

export const ZOOKEEPER_SERVER = '/usr/share/zookeeper/bin/zkServer.sh';
const DDL_QUEUE = '/clickhouse/task_queue/ddl';

/** ZooKeeper (Debian's `zookeeper` package), standalone, on loopback. */
export class ZooKeeper {
  constructor(port, dir) {
    this.port = port;
    this.dir = dir;
    this.proc = undefined;
  }

  static async create(dir = mkdtempSync(join(tmpdir(), 'fg-zk-'))) {
    const z = new ZooKeeper(await freePort(), dir);
    await z.start();
    return z;
  }

  async start() {
    if (!existsSync(ZOOKEEPER_SERVER)) throw new Error('zookeeper is not installed (apt-get install -y zookeeper)');
    mkdirSync(join(this.dir, 'data'), { recursive: true });
    const cfg = join(this.dir, 'zoo.cfg');
    writeFileSync(
      cfg,
      [
        `tickTime=500`,
        `initLimit=10`,
        `syncLimit=5`,
        `dataDir=${this.dir}/data`,
        `clientPort=${this.port}`,
        `clientPortAddress=127.0.0.1`,
        `admin.enableServer=false`,
        `maxClientCnxns=500`,
        `4lw.commands.whitelist=ruok,cons`,
        '',
      ].join('\n'),
    );
    this.proc = spawn(ZOOKEEPER_SERVER, ['start-foreground', cfg], {
      env: { ...process.env, ZOO_LOG_DIR: this.dir, ZOO_LOG4J_PROP: 'WARN,CONSOLE', JVMFLAGS: '-Xmx256m' },
      stdio: ['ignore', 'ignore', 'ignore'],
      detached: false,
    });
    const until = Date.now() + 60_000;
    while ((await this.command('ruok')) !== 'imok') {
      if (this.proc.exitCode !== null) throw new Error(`zookeeper exited with ${this.proc.exitCode}`);
      if (Date.now() > until) throw new Error('zookeeper did not answer ruok within 60 s');
      await sleep(200);
    }
  }

  /** A four-letter command's answer ('' when it cannot be had). */
  command(cmd) {
    return new Promise((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port: this.port }, () => s.end(cmd));
      let out = '';
      s.on('data', (d) => (out += d));
      s.on('close', () => resolve(out));
      s.on('error', () => resolve(''));
      s.setTimeout(2000, () => s.destroy());
    });
  }

  /** How many client sessions have listed a node's children last (`cons`: lop=GETC). */
  async listingSessions() {
    return (await this.command('cons')).split('\n').filter((l) => /sid=0x[0-9a-f]+,lop=GETC,/.test(l)).length;
  }

  async stop() {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    // zkServer.sh execs java in the foreground: the signal reaches the JVM.
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (p.exitCode === null) p.kill('SIGKILL');
    this.proc = undefined;
  }
}

/**
 * `shards` × `replicas` clickhouse-server processes under the cluster `name`, with the
 * {shard} and {replica} macros set, internal_replication on (the Replicated tables copy
 * rows between replicas) and distributed DDL through the ZooKeeper.
 */
export class ClickHouseCluster {
  constructor(name, zk, nodes) {
    this.name = name;
    this.zk = zk;
    /** [{ shard, replica, server }] in shard order. */
    this.nodes = nodes;
  }

  static async create({ name = 'plant', shards = 1, replicas = 2, dir = mkdtempSync(join(tmpdir(), 'fg-cluster-')) } = {}) {
    const zk = await ZooKeeper.create(join(dir, 'zk'));
    const layout = [];
    for (let s = 1; s <= shards; s++)
      for (let r = 1; r <= replicas; r++) layout.push({ shard: s, replica: r, http: await freePort(), tcp: await freePort(), inter: await freePort() });
    const remote = [];
    for (let s = 1; s <= shards; s++) {
      const reps = layout
        .filter((n) => n.shard === s)
        .map((n) => `<replica><host>127.0.0.1</host><port>${n.tcp}</port></replica>`)
        .join('');
      remote.push(`<shard><internal_replication>true</internal_replication>${reps}</shard>`);
    }
    const nodes = layout.map((n) => {
      const xml = `<interserver_http_port>${n.inter}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <zookeeper><node><host>127.0.0.1</host><port>${zk.port}</port></node><session_timeout_ms>6000</session_timeout_ms></zookeeper>
  <macros><shard>${String(n.shard).padStart(2, '0')}</shard><replica>r${n.shard}-${n.replica}</replica></macros>
  <remote_servers><${name}>${remote.join('')}</${name}></remote_servers>
  <distributed_ddl><path>${DDL_QUEUE}</path></distributed_ddl>`;
      return { shard: n.shard, replica: n.replica, server: new ClickHouseServer(n.http, n.tcp, join(dir, `ch-${n.shard}-${n.replica}`), xml) };
    });
    const c = new ClickHouseCluster(name, zk, nodes);
    await Promise.all(nodes.map((n) => n.server.start()));
    await c.ddlReady();
    return c;
  }

  /**
   * Waits until every node's DDL worker has its ZooKeeper session: 18.16 answers /ping before that, and
   * an ON CLUSTER query in between dereferences the worker's still-null session and segfaults the server
   * (zkutil::ZooKeeper::createImpl with `this` null: seen in CI, and here in 1 of 7 fresh clusters with
   * both cores busy). On a fresh node the worker's session is the only one, and its first listing of the
   * queue comes after the session is set, so every node's session having last listed children is the sign.
   */
  async ddlReady(timeoutMs = 30_000) {
    const until = Date.now() + timeoutMs;
    while ((await this.zk.listingSessions()) < this.nodes.length) {
      if (Date.now() > until) throw new Error(`not every clickhouse-server's DDL worker listed ${DDL_QUEUE} within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  get urls() {
    return this.nodes.map((n) => n.server.url);
  }

  async stop() {
    await Promise.all(this.nodes.map((n) => n.server.stop()));
    await this.zk.stop();
  }
}
