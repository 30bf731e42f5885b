// The gateway under benchmark: dist/ in a child process, its own state folder and free ports,
// with helpers to query it, scrape it and stop it. Shared by the Modbus, OPC UA and memory benchmarks.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from './proc.mjs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Starts a gateway whose config is the broker/http lines plus `yaml`; resolves once /healthz answers. */
export async function startGateway(prefix, yaml) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  writeFileSync(
    join(dir, 'c.yaml'),
    `state_dir: ${join(dir, 'state')}\nlog: { level: warn }\nbroker: { listeners: [ { type: tcp, bind: "127.0.0.1:${mqttPort}" } ] }\nhttp: { bind: "127.0.0.1:${httpPort}" }\n${yaml}`,
  );
  const launch = () => spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'run', '-c', join(dir, 'c.yaml')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${httpPort}`;
  const healthy = async () => {
    for (;;) {
      try {
        if ((await fetch(`${url}/healthz`)).ok) return;
      } catch {}
      if (g.proc.exitCode !== null) throw new Error(`gateway exited ${g.proc.exitCode}`);
      await sleep(100);
    }
  };
  const g = {
    proc: launch(),
    mqttPort,
    url,
    query: async (sql) => (await (await fetch(`${url}/query`, { method: 'POST', body: sql })).text()).trim(),
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    /** The sum of a metric's samples (all label sets). */
    metric: async (name) =>
      (await g.metrics())
        .split('\n')
        .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
        .reduce((a, l) => a + Number(l.split(' ').pop()), 0),
    readyz: async () => (await fetch(`${url}/readyz`)).json(),
    /** SIGTERM, then the same configuration and state again (a reboot with what the journal holds). */
    async restart() {
      g.proc.kill('SIGTERM');
      await new Promise((r) => g.proc.once('exit', r));
      g.proc = launch();
      await healthy();
    },
    async stop() {
      g.proc.kill('SIGTERM');
      await new Promise((r) => g.proc.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await healthy();
  return g;
}
