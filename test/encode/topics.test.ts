import { describe, expect, it } from 'vitest';
import { compileTemplate, matchTemplate } from '../../src/encode/topics.js';

function m(t: string, topic: string): Record<string, string> | null {
  const caps: Record<string, string> = {};
  return matchTemplate(compileTemplate(t), topic, caps) ? caps : null;
}

describe('topic templates', () => {
  it.each([
    ['plant/{device}/{tag+}', 'plant/p1/a/b', { device: 'p1', tag: 'a/b' }],
    ['plant/{device}/{tag+}', 'plant/p1/a', { device: 'p1', tag: 'a' }],
    ['plant/{device}/{tag+}', 'plant/p1', null],
    ['plant/{device}/{tag+}', 'plant//a', null],
    ['json/{device}', 'json/p1', { device: 'p1' }],
    ['json/{device}', 'json/p1/x', null],
    ['json/{device}', 'json', null],
    ['+/{d}/#', 'a/b/c/d', { d: 'b' }],
    ['+/{d}/#', 'a/b', { d: 'b' }],
    ['#', '$SYS/x', null],
    ['{d}/x', '$SYS/x', null],
    ['$SYS/{x}', '$SYS/y', { x: 'y' }],
    ['a/{b}', 'a/', null],
  ])('%s matches %s', (t, topic, want) => {
    expect(m(t, topic)).toEqual(want);
  });

  it.each([
    ['a/#/b', '# must be the last level'],
    ['a/{x+}/b', '{x+} must be the last level'],
    ['a/{x}/{x}', 'capture {x} appears twice'],
    ['a/b{x}', 'level "b{x}" mixes text with {, }, + or #'],
    ['a/{1x}', 'capture name "1x" must be a word'],
  ])('%s is refused', (t, err) => {
    expect(compileTemplate(t).error).toBe(err);
  });
});
