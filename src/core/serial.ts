/**
 * One task at a time, in the order given: each starts once the one before has settled (a failed
 * task does not stop the ones after it). For reloads, queries through the gateway, cursor writes,
 * birth tables and audit files.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T> | T): Promise<T> {
    const p = this.tail.then(task, task);
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** Resolves once everything queued so far has settled. */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
