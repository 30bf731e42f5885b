/**
 * No Docker engine runs on the build machines: the Dockerfile is checked for
 * its structure, and its build steps (scripts/build-release.sh) are run here
 * outside Docker, in a copy of the sources.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/gateway.js';
import { tempDir } from '../helpers/journal.js';

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const instructions = dockerfile
  .split('\n')
  .filter((l) => l.trim() && !l.trim().startsWith('#'))
  .map((l) => l.trim());

describe('Dockerfile', () => {
  it('is a multi-stage build on Node 24 slim that runs as a non-root user with a volume and a health check', () => {
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    expect(froms).toHaveLength(2);
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=24$/m);
    for (const f of froms) expect(f).toMatch(/^FROM node:\$\{NODE_VERSION\}-bookworm-slim/);
    const runtime = instructions.slice(instructions.lastIndexOf(froms[1]));
    expect(runtime).toContain('USER node');
    expect(runtime.indexOf('USER node')).toBeLessThan(runtime.findIndex((l) => l.startsWith('ENTRYPOINT')));
    // Node 24's young generation as Node 20's (a QoS 0 flood peaked 114 MB higher without it).
    expect(runtime.find((l) => l.startsWith('ENTRYPOINT'))).toBe('ENTRYPOINT ["node", "--max-semi-space-size=16", "dist/cli/main.js"]');
    expect(runtime.some((l) => /^VOLUME \["\/var\/lib\/fieldgate"\]$/.test(l))).toBe(true);
    expect(runtime.some((l) => l.startsWith('HEALTHCHECK') && l.includes('/healthz'))).toBe(true);
    expect(instructions.some((l) => l.includes('scripts/build-release.sh'))).toBe(true);
    expect(dockerfile).toMatch(/ARG WITH_CHDB=true/);
    // Every file the image copies exists.
    for (const l of instructions.filter((x) => x.startsWith('COPY ') && !x.includes('--from'))) {
      for (const src of l.split(/\s+/).slice(1, -1)) expect(existsSync(join(ROOT, src)), src).toBe(true);
    }
  });

  it('its build steps produce a runnable image tree without dev dependencies (WITH_CHDB=false)', () => {
    const dir = tempDir('fg-image-');
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json', 'src', 'scripts']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
    execFileSync('sh', ['scripts/build-release.sh'], { cwd: dir, env: { ...process.env, WITH_CHDB: 'false' }, stdio: 'ignore' });
    expect(existsSync(join(dir, 'dist/cli/main.js'))).toBe(true);
    expect(existsSync(join(dir, 'node_modules/vitest'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules/typescript'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules/chdb'))).toBe(false);
    expect(existsSync(join(dir, 'node_modules/aedes'))).toBe(true);
    const v = spawnSync(process.execPath, ['dist/cli/main.js', '--version'], { cwd: dir, encoding: 'utf8' });
    expect(v.stdout.trim()).toBe((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });
});
