/** A sleep that stop() can cut short: for retry and poll loops that must end promptly. */
export class Pause {
  private wakeUp: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeUp = undefined;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(t);
        this.wakeUp = undefined;
        resolve();
      };
    });
  }

  /** Ends the current sleep now, if there is one. */
  wake(): void {
    this.wakeUp?.();
  }
}
