/** Loads a configuration on a worker thread (a reload): a large or hostile file never stalls the broker. */
import { parentPort, workerData } from 'node:worker_threads';
import { loadConfig } from './load.js';

const { file } = workerData as { file: string };
try {
  parentPort!.postMessage({ config: loadConfig(file) });
} catch (err) {
  const e = err as { code?: string; message?: string };
  parentPort!.postMessage({ error: { code: e.code, message: e.message ?? String(err) } });
}
