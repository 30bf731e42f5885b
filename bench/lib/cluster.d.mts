import type { ClickHouseServer } from './clickhouse-server.mjs';

export declare const ZOOKEEPER_SERVER: string;

export declare class ZooKeeper {
  readonly port: number;
  readonly dir: string;
  static create(dir?: string): Promise<ZooKeeper>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export declare class ClickHouseCluster {
  readonly name: string;
  readonly zk: ZooKeeper;
  readonly nodes: Array<{ shard: number; replica: number; server: ClickHouseServer }>;
  static create(o?: { name?: string; shards?: number; replicas?: number; dir?: string }): Promise<ClickHouseCluster>;
  readonly urls: string[];
  stop(): Promise<void>;
}
