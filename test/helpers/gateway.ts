/**
 * A real fieldgate in a child process (dist/, as users run it): its own state
 * folder, free ports, and helpers to query it, scrape it and signal it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from './ports.js';
import { tempDir } from './journal.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'dist/cli/main.js');

export interface GatewayOptions {
  /** Extra YAML appended to the generated config (must not repeat its keys). */
  yaml?: string;
  clickhouse?: { url: string; database: string } | undefined;
  stateDir?: string;
  batchMaxDelay?: string;
  /** More keys of the batch section, e.g. "max_lag: 1s". */
  batchYaml?: string;
  env?: Record<string, string>;
  /** Another runtime: the command (and arguments) that runs the gateway instead of this node. */
  node?: string[];
  /** How long start() waits for /healthz (emulated runtimes are slow). */
  startTimeoutMs?: number;
  /** More keys of the clickhouse section, e.g. "request_timeout: 2s". */
  clickhouseYaml?: string;
  /** Routes placed before the two default ones, e.g. '{ topic: "spBv1.0/#", format: sparkplug }'. */
  routes?: string[];
  /** More keys of the broker section, e.g. 'users: [...], acl: [...]'. */
  brokerYaml?: string;
  /** More keys of the http section, e.g. 'clickhouse_bind: "127.0.0.1:8124"'. */
  httpYaml?: string;
  /** The items of `sinks:` (each line as written under it), instead of the clickhouse section. */
  sinks?: string[];
}

export class TestGateway {
  proc: ChildProcess | undefined;
  logs = '';
  readonly config: string;
  private constructor(
    readonly stateDir: string,
    readonly mqttPort: number,
    readonly httpPort: number,
    private readonly o: GatewayOptions,
  ) {
    this.config = join(stateDir, '..', `${stateDir.split('/').pop()}.yaml`);
  }

  static async create(o: GatewayOptions = {}): Promise<TestGateway> {
    const dir = o.stateDir ?? join(tempDir('fg-gw-'), 'state');
    const g = new TestGateway(dir, await freePort(), await freePort(), o);
    g.writeConfig();
    return g;
  }

  /** Rewrites the config with other extra YAML (for reload tests). */
  setYaml(yaml: string): void {
    this.o.yaml = yaml;
    this.writeConfig();
  }

  signal(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  private writeConfig(): void {
    const ch = this.o.clickhouse;
    writeFileSync(
      this.config,
      [
        `state_dir: ${this.stateDir}`,
        'log: { level: info }',
        `broker: { listeners: [ { type: tcp, bind: "127.0.0.1:${this.mqttPort}" } ]${this.o.brokerYaml ? `, ${this.o.brokerYaml}` : ''} }`,
        'mqtt:',
        '  routes:',
        ...(this.o.routes ?? []).map((r) => `    - ${r}`),
        '    - { topic: "plant/{device}/{tag+}", format: number }',
        '    - { topic: "json/{device}", format: json }',
        `http: { bind: "127.0.0.1:${this.httpPort}"${this.o.httpYaml ? `, ${this.o.httpYaml}` : ''} }`,
        `batch: { max_delay: ${this.o.batchMaxDelay ?? '200ms'}${this.o.batchYaml ? `, ${this.o.batchYaml}` : ''} }`,
        'workers: { threads: 1 }',
        ...(this.o.sinks
          ? ['sinks:', ...this.o.sinks.map((l) => `  ${l}`)]
          : [
              `clickhouse: { ${ch ? `url: "${ch.url}", database: ${ch.database}, ` : ''}retry_max: 1s${this.o.clickhouseYaml ? `, ${this.o.clickhouseYaml}` : ''} }`,
            ]),
        this.o.yaml ?? '',
      ].join('\n') + '\n',
    );
  }

  async start(): Promise<void> {
    const [cmd, ...pre] = this.o.node ?? [process.execPath];
    this.proc = spawn(cmd, [...pre, BIN, 'run', '-c', this.config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.o.env } });
    const p = this.proc;
    p.stdout?.on('data', (d: Buffer) => (this.logs += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (this.logs += d.toString()));
    await waitFor(
      'gateway /healthz',
      async () => {
        if (p.exitCode !== null) return 'exited'; // at once, not after the time-out
        return (await fetch(`http://127.0.0.1:${this.httpPort}/healthz`)).ok;
      },
      this.o.startTimeoutMs ?? 30_000,
      50,
    );
    if (p.exitCode !== null) throw new Error(`gateway exited ${p.exitCode}: ${this.logs.slice(-2000)}`);
  }

  /**
   * Waits until the gateway's log holds `text`. A time-out says whether the gateway is still
   * running and ends with the last of its log, so a failure in CI carries its own cause.
   */
  async waitForLog(what: string, text: string, timeoutMs = 10_000, everyMs = 50): Promise<void> {
    try {
      await waitFor(what, () => this.logs.includes(text), timeoutMs, everyMs);
    } catch (err) {
      const state = this.alive ? 'running' : `exited (${this.proc?.exitCode ?? this.proc?.signalCode})`;
      throw new Error(`${err instanceof Error ? err.message : String(err)}; the gateway is ${state}; its log ends:\n${this.logs.slice(-3000)}`);
    }
  }

  get alive(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return p?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
    p.kill(signal);
    return exited;
  }

  kill(): Promise<number | null> {
    return this.stop('SIGKILL');
  }

  async query(sql: string): Promise<string> {
    const r = await fetch(`http://127.0.0.1:${this.httpPort}/query`, { method: 'POST', body: sql });
    const t = await r.text();
    if (!r.ok) throw new Error(`query failed (${r.status}): ${t}`);
    return t.trim();
  }

  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.httpPort}/metrics`)).text();
  }

  /** The value of one sample, e.g. metric('fieldgate_sink_lag_bytes{sink="clickhouse"}'). */
  async metric(sample: string): Promise<number> {
    const text = await this.metrics();
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    return line ? Number(line.slice(sample.length + 1)) : Number.NaN;
  }

  async readyz(): Promise<{
    status: number;
    body: {
      ready: boolean;
      sinks: Array<{ state: string; lagBytes: number; lagChunks: number }>;
      stalled: Array<{ loop: string; silent_ms: number; detail?: string }>;
    };
  }> {
    const r = await fetch(`http://127.0.0.1:${this.httpPort}/readyz`);
    return { status: r.status, body: (await r.json()) as never };
  }

  /** Waits until every sink has acknowledged everything committed. */
  async drained(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      'the sinks to catch up',
      async () => {
        const r = await this.readyz();
        return r.body.sinks.length > 0 && r.body.sinks.every((s) => s.state === 'connected' && s.lagChunks === 0 && s.lagBytes === 0);
      },
      timeoutMs,
      100,
    );
  }
}
