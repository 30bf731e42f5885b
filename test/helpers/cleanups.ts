import { afterAll } from 'vitest';

/** A list of things to undo (stop a gateway, kill a peer, end a client), run in reverse after the file's tests. */
export function cleanupsAfterAll(): Array<() => Promise<unknown>> {
  const list: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of list.reverse()) await c();
  });
  return list;
}
