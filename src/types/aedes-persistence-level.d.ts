declare module 'aedes-persistence-level/asyncPersistence.js' {
  import type { ClassicLevel } from 'classic-level';
  /** aedes-persistence-level's async backend (aedes 1.x calls setup(broker) and the async API). */
  export default class AsyncLevelPersistence {
    constructor(db: ClassicLevel<string, Buffer>);
    setup(broker: unknown): Promise<void>;
    countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
    createRetainedStream(pattern: string): AsyncIterable<unknown>;
    destroy(): Promise<void>;
  }
}
