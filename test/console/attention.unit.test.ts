/** The console's "needs attention" list, from the status object the gateway answers /status with. */
import { describe, expect, it } from 'vitest';
import { attention } from '../../src/console/api.js';

const healthy = {
  journal: { blocked: false, dropped: 0 },
  disk: { low: false },
  stalled: [],
  sinks: [{ name: 'clickhouse', state: 'connected' }],
  sources: [],
  partners: [],
  dead_letters: { files: 0 },
};

describe('console attention', () => {
  it('is empty when all is well', () => {
    expect(attention({ ...healthy, pushback: false }, [])).toEqual([]);
  });

  it('names pushback (batch.max_lag) and a full journal, the error first', () => {
    const out = attention({ ...healthy, pushback: true, journal: { blocked: true, dropped: 0 } }, []);
    expect(out.map((a) => [a.level, a.what])).toEqual([
      ['error', 'journal'],
      ['warn', 'broker'],
    ]);
    expect(out[1].detail).toMatch(/batch\.max_lag/);
  });
});
