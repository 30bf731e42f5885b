/** A sleep that stop() can cut short: for retry and poll loops that must end promptly. Several may sleep at once. */
export class Pause {
  private readonly sleepers = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.sleepers.add(done);
    });
  }

  /** Ends every current sleep now. */
  wake(): void {
    for (const s of [...this.sleepers]) s();
  }
}
