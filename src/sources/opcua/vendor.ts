/** Loads node-opcua (through client.ts) once, on first need, with its log lines routed to ours. */
import type { Logger } from '../../telemetry/logger.js';
import type { OpcuaPki } from './client.js';

export type ClientModule = typeof import('./client.js');
export interface Vendor {
  mod: ClientModule;
  pki: OpcuaPki;
}

let loaded: Promise<ClientModule> | undefined;

export function loadClientModule(log?: Pick<Logger, 'debug' | 'warn'>): Promise<ClientModule> {
  loaded ??= import('./client.js').then((m) => {
    m.routeVendorLogs(log ?? { debug: () => undefined, warn: () => undefined });
    return m;
  });
  return loaded;
}

export async function loadVendor(pkiDir: string, log: Pick<Logger, 'debug' | 'warn'>): Promise<Vendor> {
  const mod = await loadClientModule(log);
  return { mod, pki: new mod.OpcuaPki(pkiDir) };
}
