import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './gateway.js';
import { tempDir } from './journal.js';

/**
 * A test peer (a Modbus or OPC UA server) in a child process: `node <script> <port> <spec.json>`;
 * it sends 'ready' once listening and answers IPC requests with one message each.
 */
export class PeerProcess {
  proc: ChildProcess | undefined;
  protected constructor(
    private readonly script: string,
    readonly port: number,
    readonly specFile: string,
  ) {}

  protected static writeSpec(spec: unknown, prefix: string): string {
    const file = join(tempDir(prefix), 'spec.json');
    writeFileSync(file, JSON.stringify(spec));
    return file;
  }

  async start(): Promise<void> {
    const p = fork(join(ROOT, this.script), [String(this.port), this.specFile], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    this.proc = p;
    await new Promise<void>((res, rej) => {
      p.once('message', () => res());
      p.once('exit', (c) => rej(new Error(`${this.script} exited ${c}`)));
    });
  }

  /** Sends an IPC request and resolves with the peer's answer. */
  ask<T>(m: string): Promise<T> {
    const p = this.proc!;
    return new Promise((res) => {
      p.once('message', (r) => res(r as T));
      p.send(m);
    });
  }

  signal(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const done = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await done;
  }
}
