/**
 * Acceptance that can be withheld for a while, with callers waiting for it to come back: a full
 * journal (on_full: block) and pushback (batch.max_lag) each hold one. The broker waits on both.
 */
export class Gate {
  private shut = false;
  private waiters: Array<() => void> = [];

  get closed(): boolean {
    return this.shut;
  }

  /** Withholds from now on; false when it already did. */
  close(): boolean {
    if (this.shut) return false;
    this.shut = true;
    return true;
  }

  /** Accepts again and lets everyone waiting go, in the order they came; false when it already accepted. */
  open(): boolean {
    if (!this.shut) return false;
    this.shut = false;
    this.releaseWaiters();
    return true;
  }

  /** Calls `cb` once it accepts (at once when it does). */
  whenOpen(cb: () => void): void {
    if (!this.shut) cb();
    else this.waiters.push(cb);
  }

  /** Lets everyone waiting go without opening (the journal closes: their appends then fail as closed). */
  releaseWaiters(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const cb of w) cb();
  }
}
