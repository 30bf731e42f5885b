/**
 * The web console in a real browser (Debian's headless Chromium through playwright-core) against
 * the demo plant (`run --simulate`: MQTT machines, a Modbus TCP one and an OPC UA one): the
 * overview lists every part, the devices page every demo device, a value changes between two
 * reads, a tag chart draws (from raw rows, and from the rollups for 30 days). Then the guards: a
 * non-loopback bind without users does not start, a wrong password gets 401, the dead-letter
 * replay needs the user's CSRF token and a same-origin POST.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchBrowser, startDemo, type Demo } from '../../bench/lib/console.mjs';
import { peakRss } from '../../bench/lib/proc.mjs';
import { BIN } from '../helpers/gateway.js';
import { tempDir } from '../helpers/journal.js';
import { makeCertificates } from '../helpers/mosquitto.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { cleanupsAfterAll } from '../helpers/cleanups.js';

const cleanups = cleanupsAfterAll();
const DEMO_DEVICES = ['cnc4', 'oven1', 'oven2', 'packer3', 'press1'];

async function demo(http = ''): Promise<Demo> {
  const d = await startDemo({ dir: tempDir('fg-console-'), http });
  cleanups.push(() => d.stop());
  return d;
}

async function browser(): Promise<Browser> {
  const b = await launchBrowser();
  cleanups.push(() => b.close());
  return b;
}

describe('web console', () => {
  it('shows the demo plant: every part and device, live values, a tag chart from raw rows and rollups', async () => {
    const d = await demo();
    const b = await browser();
    const page = await b.newPage();
    const t0 = performance.now();
    await page.goto(d.url + '/');
    await page.waitForSelector('#parts tbody tr');
    console.log(`console: overview drawn ${Math.round(performance.now() - t0)} ms after navigation (headless Chromium)`);
    const parts = await page.textContent('#parts');
    for (const x of ['cnc4', 'oven1', 'clickhouse', '127.0.0.1']) expect(parts).toContain(x);
    // Live: the overview is pushed (SSE), and the rate shows values arriving.
    await waitFor('the overview to show rows being stored', async () => Number((await page.textContent('#rate-rows')) ?? '0') > 0, 30_000, 200);
    await waitFor('every demo part to be up', async () => !(await page.textContent('#parts'))!.includes('down'), 30_000, 500);

    // Every demo device, on the overview (read from the store, with its state) and on the devices page.
    const allListed = (what: string, selector: string) =>
      waitFor(
        what,
        async () => {
          const names = await page.locator(selector).evaluateAll((els) => els.map((e) => e.getAttribute('data-device') ?? ''));
          return DEMO_DEVICES.every((n) => names.includes(n));
        },
        30_000,
        500,
      );
    await allListed('every demo device on the overview', '#overview-devices a[data-device]');
    await page.click('nav a[data-nav=devices]');
    await allListed('every demo device listed', '#devices tr[data-device]');

    await page.click('#devices tr[data-device="cnc4"] a');
    await page.waitForSelector('#tags tr[data-tag="spindle/speed"]');
    const read = () => page.textContent('#tags tr[data-tag="spindle/speed"] td.value');
    const first = await read();
    await waitFor('spindle/speed to change', async () => (await read()) !== first, 20_000, 500);
    expect(await page.textContent('#tags tr[data-tag="spindle/speed"]')).toContain('rpm');
    expect(await page.$$eval('canvas.spark', (cs) => cs.length)).toBeGreaterThanOrEqual(4);

    await page.click('#tags tr[data-tag="spindle/temp"] a');
    await page.click('button[data-range="15m"]');
    await waitFor('a chart from raw rows', async () => Number(await page.getAttribute('#chart', 'data-points')) > 1, 20_000, 200);
    expect(await page.$$eval('#chart canvas', (cs) => cs.length)).toBe(1);
    expect(await page.textContent('#chart-info')).toContain('from points in');
    await page.click('button[data-range="30d"]');
    await waitFor('a chart from the hourly rollup', async () => (await page.textContent('#chart-info'))?.includes('from points_1h'), 20_000, 200);
    expect(Number(await page.getAttribute('#chart', 'data-points'))).toBeGreaterThanOrEqual(1);

    await page.click('nav a[data-nav=deadletters]');
    await page.waitForSelector('#dl-files');
    expect(await page.isDisabled('#replay')).toBe(true); // no users: no replay from the console

    // The figures for the closing note: the console's assets, and the gateway's memory with a page open.
    const sizes = await Promise.all(
      ['/', '/assets/app.js', '/assets/app.css', '/assets/uplot.js', '/assets/uplot.css', '/assets/favicon.svg'].map(async (p) => {
        const r = await fetch(d.url + p, { headers: { 'accept-encoding': 'gzip' } });
        expect(r.status).toBe(200);
        return Number(r.headers.get('content-length'));
      }),
    );
    console.log(
      `console: assets ${sizes.reduce((a, n) => a + n, 0)} bytes gzip; gateway peak RSS ${Math.round(peakRss(d.proc.pid!) / 2 ** 20)} MiB with the page open`,
    );
    // The same overview as a table in the terminal.
    const status = execFileSync(process.execPath, [BIN, 'status', '-c', d.config], { encoding: 'utf8' });
    for (const x of [
      /MQTT listener\s+127\.0\.0\.1:\d+\s+listening/,
      /Modbus device\s+cnc4\s+up/,
      /OPC UA server\s+oven1\s+up/,
      /Sink\s+clickhouse\s+connected/,
      /messages\/s/,
    ])
      expect(status).toMatch(x);
    expect(d.logs).not.toMatch(/"level":50/);
    await d.stop(); // the demo machines' ports are fixed: the next demo needs them
  });

  it('a non-loopback bind needs users; a wrong password gets 401; replay needs the CSRF token and the same origin', async () => {
    const dir = tempDir('fg-console-bind-');
    const file = join(dir, 'open.yaml');
    writeFileSync(file, `state_dir: ${join(dir, 'state')}\nhttp:\n  bind: "0.0.0.0:9464"\n`);
    const refused = spawnSync(process.execPath, [BIN, 'run', '-c', file], { encoding: 'utf8', timeout: 30_000 });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toContain(
      'open.yaml:3:9: http.bind: got 0.0.0.0:9464: an address other than loopback needs users (fieldgate passwd) or allow_anonymous: true',
    );

    const hash = execFileSync(process.execPath, [BIN, 'passwd'], { input: 'secret-1\n', encoding: 'utf8' }).trim();
    const d = await demo(`  users: [ { username: op, password_hash: "${hash}" } ]`);
    const b = await browser();
    const wrong = await b.newContext({ httpCredentials: { username: 'op', password: 'nope' } });
    expect((await (await wrong.newPage()).goto(d.url + '/'))!.status()).toBe(401);
    expect((await fetch(d.url + '/api/overview')).status).toBe(401);
    expect((await fetch(d.url + '/status')).status).toBe(401);
    // Scrapers and probes stay open.
    expect((await fetch(d.url + '/metrics')).status).toBe(200);
    expect((await fetch(d.url + '/healthz')).status).toBe(200);

    const ctx = await b.newContext({ httpCredentials: { username: 'op', password: 'secret-1' } });
    const page = await ctx.newPage();
    expect((await page.goto(d.url + '/#/deadletters'))!.status()).toBe(200);
    await page.waitForSelector('#dl-files');
    expect(await page.textContent('#who')).toBe('op');
    const auth = { authorization: 'Basic ' + Buffer.from('op:secret-1').toString('base64') };
    // Without the token, and from another origin with it: refused.
    const bare = await fetch(d.url + '/api/deadletters/replay', { method: 'POST', headers: { ...auth, origin: d.url, 'sec-fetch-site': 'same-origin' } });
    expect(bare.status).toBe(403);
    const csrf = ((await (await fetch(d.url + '/api/session', { headers: auth })).json()) as { csrf: string }).csrf;
    const cross = await fetch(d.url + '/api/deadletters/replay', { method: 'POST', headers: { ...auth, 'x-csrf-token': csrf, origin: 'http://evil.example' } });
    expect(cross.status).toBe(403);
    // The page's own POST (same origin, its token) is answered.
    const r = await page.evaluate(async () => {
      const s = (await (await fetch('/api/session')).json()) as { csrf: string };
      const res = await fetch('/api/deadletters/replay', { method: 'POST', headers: { 'x-csrf-token': s.csrf } });
      return { status: res.status, body: await res.text() };
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ replayed: 0, files: 0 });
  });

  it('serves the console over HTTPS with cert_file and key_file', async () => {
    const dir = tempDir('fg-console-tls-');
    makeCertificates(dir, []);
    const [mqtt, http] = [await freePort(), await freePort()];
    const hash = execFileSync(process.execPath, [BIN, 'passwd'], { input: 'pw-2\n', encoding: 'utf8' }).trim();
    const file = join(dir, 'tls.yaml');
    writeFileSync(
      file,
      `state_dir: ${join(dir, 'state')}\nbroker: { listeners: [ { type: tcp, bind: "127.0.0.1:${mqtt}" } ] }\n` +
        `http: { bind: "127.0.0.1:${http}", cert_file: ${join(dir, 'server.pem')}, key_file: ${join(dir, 'server.key')}, users: [ { username: op, password_hash: "${hash}" } ] }\n`,
    );
    const proc = spawn(process.execPath, [BIN, 'run', '-c', file], { stdio: 'ignore' });
    cleanups.push(async () => {
      proc.kill('SIGTERM');
      if (proc.exitCode === null) await new Promise((r) => proc.once('exit', r));
    });
    const ca = readFileSync(join(dir, 'ca.pem'));
    const get = (path: string, auth?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        httpsGet(
          { host: '127.0.0.1', port: http, path, ca, headers: auth ? { authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {} },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        ).on('error', reject);
      });
    await waitFor('https /healthz', async () => (await get('/healthz')).status === 200, 30_000, 200);
    expect((await get('/')).status).toBe(401);
    const page = await get('/', 'op:pw-2');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>fieldgate</title>');
    expect((await get('/metrics')).status).toBe(200);
    // Plain HTTP on the TLS port gets no answer.
    await expect(fetch(`http://127.0.0.1:${http}/healthz`)).rejects.toThrow();
  });
});
