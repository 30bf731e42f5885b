export interface PublishTemplate {
  buf: Buffer;
  idOffset: number;
}
export function encodePublish(topic: string, payload: string | Buffer, qos: number, messageId?: number): PublishTemplate;
export class RawPublisher {
  constructor(o: { host?: string; port: number; clientId: string; qos?: number; inflight?: number; onAck?: (tag: number, latencyMs: number) => void });
  connected: boolean;
  acked: number;
  sent: number;
  pending: Map<number, [number, number]>;
  connect(): Promise<void>;
  room(): Promise<void>;
  publish(topic: string, payload: string | Buffer, tag?: number): boolean;
  publishBatch(template: PublishTemplate, count: number, tag?: number): boolean;
  drained(): Promise<void>;
  unacked(): number[];
  close(): void;
  destroy(): void;
}
export function connectPublishers(port: number, n: number, prefix: string, inflight?: number): Promise<RawPublisher[]>;
export function floodUntil(pubs: RawPublisher[], template: PublishTemplate, until: number): Promise<void>;
