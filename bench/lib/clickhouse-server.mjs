// A real Debian clickhouse-server (18.16) on loopback, in its own folder and
// ports, started and stopped by tests and benchmarks.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './proc.mjs';

export const CLICKHOUSE_BIN = ['/usr/sbin/clickhouse-server', '/usr/bin/clickhouse-server'].find((p) => existsSync(p));

export class ClickHouseServer {
  /** `extraXml`: more of config.xml (a cluster's zookeeper, macros, remote_servers, interserver port). */
  constructor(httpPort, tcpPort, dir, extraXml = '') {
    this.httpPort = httpPort;
    this.tcpPort = tcpPort;
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'fg-ch-'));
    this.extraXml = extraXml;
    this.proc = undefined;
  }

  get url() {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  static async create() {
    const s = new ClickHouseServer(await freePort(), await freePort());
    await s.start();
    return s;
  }

  async start() {
    if (!CLICKHOUSE_BIN) throw new Error('clickhouse-server is not installed (apt-get install -y clickhouse-server)');
    const d = this.dir;
    mkdirSync(join(d, 'data'), { recursive: true });
    writeFileSync(
      join(d, 'config.xml'),
      `<?xml version="1.0"?>
<yandex>
  <logger><level>error</level><console>1</console></logger>
  <http_port>${this.httpPort}</http_port>
  <tcp_port>${this.tcpPort}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${d}/data/</path>
  <tmp_path>${d}/tmp/</tmp_path>
  <user_files_path>${d}/user_files/</user_files_path>
  <format_schema_path>${d}/format_schemas/</format_schema_path>
  <users_config>${d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size>
  <uncompressed_cache_size>8388608</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
${this.extraXml}
</yandex>
`,
    );
    writeFileSync(
      join(d, 'users.xml'),
      `<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`,
    );
    this.proc = spawn(CLICKHOUSE_BIN, [`--config-file=${join(d, 'config.xml')}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    // What it last said (errors only), printed if it exits without being stopped: a crash shows its cause.
    let said = '';
    this.proc.stderr?.on('data', (b) => (said = (said + b.toString()).slice(-8192)));
    const proc = this.proc;
    proc.once('exit', (code, signal) => {
      if (this.proc === proc)
        console.error(`clickhouse-server on ${this.url} exited unexpectedly (code ${code}, signal ${signal}); its last words:\n${said || '(nothing)'}`);
    });
    const until = Date.now() + 30_000;
    for (;;) {
      try {
        if ((await fetch(`${this.url}/ping`)).ok) return;
      } catch {}
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`clickhouse-server on ${this.url} exited while starting:\n${said}`);
      if (Date.now() > until) throw new Error('clickhouse-server did not answer /ping within 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async query(sql) {
    const r = await fetch(`${this.url}/`, { method: 'POST', body: sql });
    const t = await r.text();
    if (!r.ok) throw new Error(t);
    return t;
  }

  /** Stops it the way an operator's `systemctl stop` does (SIGTERM) and waits. */
  async stop(signal = 'SIGTERM') {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', () => r()));
    this.proc = undefined; // an exit asked for, not one to report
    p.kill(signal);
    await exited;
  }
}
