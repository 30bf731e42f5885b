import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/gateway.js';

describe('systemd unit', () => {
  it('has an exposure score of at most 2.0 (systemd-analyze security --offline=true)', () => {
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', join(ROOT, 'systemd/fieldgate.service')], { encoding: 'utf8' });
    expect(r.error, 'systemd-analyze is installed (Debian package systemd)').toBeUndefined();
    const m = /Overall exposure level for fieldgate\.service: ([\d.]+)/.exec(r.stdout + r.stderr);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThanOrEqual(2.0);
  });
});
