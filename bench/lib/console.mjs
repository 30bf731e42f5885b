// The demo plant behind the web console, and headless Chromium to look at it: shared by the
// console's browser test, its benchmark and the script that takes the README's screenshots.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep } from './proc.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/**
 * `config/demo.yaml` with its own state_dir, MQTT and HTTP ports (the demo's Modbus and OPC UA
 * machines keep their fixed ports, 1502 and 4841), run with --simulate. `extra` is YAML merged
 * into the http section (e.g. users).
 */
export async function startDemo({ dir, http = '', logFormat = 'json' } = {}) {
  mkdirSync(dir, { recursive: true });
  const mqttPort = await freePort();
  const httpPort = await freePort();
  const yaml = readFileSync(join(ROOT, 'config/demo.yaml'), 'utf8')
    .replace(/^state_dir: .*$/m, `state_dir: ${join(dir, 'state')}`)
    .replace('bind: "127.0.0.1:1883"', `bind: "127.0.0.1:${mqttPort}"`)
    .replace(/^http:\n  bind: "127.0.0.1:9464"$/m, `http:\n  bind: "127.0.0.1:${httpPort}"${http ? `\n${http}` : ''}`);
  const config = join(dir, 'demo.yaml');
  writeFileSync(config, yaml);
  const proc = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'run', '-c', config, '--simulate', '--log-format', logFormat], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const demo = {
    proc,
    config,
    mqttPort,
    httpPort,
    url: `http://127.0.0.1:${httpPort}`,
    logs: '',
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    },
  };
  proc.stdout.on('data', (d) => (demo.logs += d));
  proc.stderr.on('data', (d) => (demo.logs += d));
  const until = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`the demo exited (${proc.exitCode}): ${demo.logs.slice(-2000)}`);
    try {
      if ((await fetch(`${demo.url}/healthz`)).ok) break;
    } catch {
      // not yet
    }
    if (Date.now() > until) throw new Error(`the demo did not start: ${demo.logs.slice(-2000)}`);
    await sleep(200);
  }
  return demo;
}

/** Debian's Chromium, headless, with nothing that calls out to the internet. */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}
