import { join } from 'node:path';
import { PeerProcess } from './peer.js';
import { tempDir } from './journal.js';
import { freePort } from './ports.js';

export interface OpcuaVariable {
  name: string;
  type: 'Double' | 'Float' | 'Int32' | 'Int64' | 'UInt64' | 'Boolean' | 'String';
  value?: unknown;
  moving?: boolean;
  array?: number;
  euRange?: [number, number];
}

export interface OpcuaSpec {
  pki?: string;
  users?: Record<string, string>;
  limits?: { maxMonitoredItemsPerCall?: number; maxNodesPerRead?: number };
  allowNone?: boolean;
  tickMs?: number;
  variables: OpcuaVariable[];
}

export const TEST_NS = 'urn:fieldgate:test';

/** A real OPC UA server (node-opcua, not fieldgate's code) in a child process; kill and start it again on the same port and PKI. */
export class OpcuaServer extends PeerProcess {
  static async create(spec: OpcuaSpec, port?: number): Promise<OpcuaServer> {
    const full = { ...spec, pki: spec.pki ?? join(tempDir('fg-ua-pki-'), 'pki') };
    const s = new OpcuaServer('bench/lib/opcua-server.mjs', port ?? (await freePort()), PeerProcess.writeSpec(full, 'fg-ua-'));
    await s.start();
    return s;
  }

  get endpoint(): string {
    return `opc.tcp://127.0.0.1:${this.port}`;
  }

  async stats(): Promise<{ createMonitoredItems: number[]; reads: number[]; sessions: number; identities?: string[] }> {
    return (await this.ask<{ stats: never }>('stats')).stats;
  }

  async dropSubscriptions(): Promise<number> {
    return (await this.ask<{ dropped: number }>('drop-subscriptions')).dropped;
  }
}
