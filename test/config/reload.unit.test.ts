/** The reload plan: each section's declared policy decides what a SIGHUP applies and what waits for a restart. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { RELOAD, planReload, rootSchema } from '../../src/config/schema.js';

const cfg = (yaml: string) => {
  const r = parseConfig(`state_dir: /tmp/x\n${yaml}`, 'f.yaml', {});
  if (!r.config) throw new Error(JSON.stringify(r.issues));
  return r.config;
};

describe('reload plan', () => {
  it('declares a policy for every section of the schema', () => {
    expect(Object.keys(RELOAD).sort()).toEqual(Object.keys(rootSchema.fields).sort());
  });

  it('applies live sections and keeps restart-only ones as they run', () => {
    const a = cfg('mqtt: { routes: [ { topic: "a/{device}/{tag}" } ] }\nhttp: { bind: "127.0.0.1:9464" }');
    const b = cfg('mqtt: { routes: [ { topic: "b/{device}/{tag}" } ] }\nhttp: { bind: "127.0.0.1:9999" }');
    const p = planReload(a, b);
    expect(p.applied).toEqual(['mqtt']);
    expect(p.restart).toEqual(['http']);
    expect(p.config.mqtt.routes[0].topic).toBe('b/{device}/{tag}');
    expect(p.config.http.bind).toBe('127.0.0.1:9464');
  });

  it('applies the broker users and rules, not its listeners', () => {
    const a = cfg('broker: { listeners: [ { type: tcp, bind: "127.0.0.1:1883" } ] }');
    const b = cfg('broker: { listeners: [ { type: tcp, bind: "127.0.0.1:1884" } ], acl: [ { topic: "x/#", access: read } ] }');
    const p = planReload(a, b);
    expect(p.applied).toEqual(['broker']);
    expect(p.restart).toEqual(['broker']);
    expect(p.config.broker.acl).toHaveLength(1);
    expect(p.config.broker.listeners[0].bind).toBe('127.0.0.1:1883');
  });

  it('keeps MQTT routes as they run when a custom table or Sparkplug changes', () => {
    const a = cfg('mqtt: { routes: [ { topic: "a/{x}" } ] }');
    const b = cfg('mqtt: { routes: [ { topic: "spBv1.0/#", format: sparkplug } ] }');
    const p = planReload(a, b);
    expect(p.applied).toEqual([]);
    expect(p.restart).toEqual(['mqtt']);
  });

  it('applies partners, and nothing when nothing changed', () => {
    const a = cfg('');
    const b = cfg('partners: [ { name: oem, broker: { url: "mqtt://127.0.0.1:1", client_id: a }, send: [ { select: {} } ] } ]');
    expect(planReload(a, b)).toMatchObject({ applied: ['partners'], restart: [] });
    expect(planReload(b, b)).toMatchObject({ applied: [], restart: [] });
  });
});
