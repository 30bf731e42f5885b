/**
 * The one file of the OPC UA source that talks to node-opcua (the demo server
 * in server.ts aside). It is loaded on demand (vendor.ts): node-opcua costs tens
 * of MB and, at load, a 4096-bit RSA self-test, which a gateway without OPC UA
 * servers should not pay. Its defaults are not a plant's: it would trust unknown
 * server certificates and keep its PKI under the home directory. Here the PKI
 * is state_dir/pki, nothing is trusted that was not put in pki/trusted (or
 * accepted once with trust_on_first_use), and reconnection belongs to the
 * caller (source.ts), which re-creates session and subscription itself.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  AttributeIds,
  BrowseDirection,
  ClientMonitoredItemGroup,
  ClientSubscription,
  DataChangeFilter,
  DataChangeTrigger,
  DataType,
  DeadbandType,
  MessageSecurityMode,
  NodeClass,
  OPCUACertificateManager,
  OPCUAClient,
  ReferenceTypeIds,
  SecurityPolicy,
  TimestampsToReturn,
  UserTokenType,
  VariableIds,
  VariantArrayType,
  setDebugLogger,
  setErrorLogger,
  setWarningLogger,
  type ClientSession,
  type DataValue,
  type UserIdentityInfo,
} from 'node-opcua';
import { isBad } from '../../core/quality.js';
import type { MonitorParams, OperationLimits } from './plan.js';

export interface Sample {
  /** Status code (uint32): 0 is Good; ≥ 0x80000000 is Bad. */
  status: number;
  /** The server's source timestamp, else its server timestamp, else 0. */
  sourceMs: number;
  dataType: string;
  isArray: boolean;
  value: unknown;
}

export interface LinkOptions {
  endpoint: string;
  clientName: string;
  securityMode: 'None' | 'Sign' | 'SignAndEncrypt';
  securityPolicy: string;
  auth: { type: 'anonymous' | 'username' | 'certificate'; username?: string; password?: string; cert_file?: string; key_file?: string };
  requestTimeoutMs: number;
  sessionTimeoutMs: number;
}

/** node-opcua writes to the console; its lines go to our logger instead (debug and warnings at debug level: they repeat what our own lines say). */
export function routeVendorLogs(log: { debug(o: object, m: string): void; warn(o: object, m: string): void }): void {
  const fmt = (args: unknown[]) =>
    args
      .map((a) => (typeof a === 'string' ? a : a instanceof Error ? a.message : JSON.stringify(a)))
      .join(' ')
      .slice(0, 500);
  setDebugLogger(() => undefined);
  setWarningLogger((...a: unknown[]) => log.debug({ vendor: 'node-opcua' }, fmt(a)));
  setErrorLogger((...a: unknown[]) => log.debug({ vendor: 'node-opcua', level: 'error' }, fmt(a)));
}

/** The application's PKI under state_dir/pki: own/ (generated once), trusted/, rejected/, issuers/. */
export class OpcuaPki {
  readonly manager: OPCUACertificateManager;
  private initialized: Promise<void> | undefined;
  /** What trusted/ and issuers/ held when the manager last read them. */
  private seen = '';
  private refreshing: Promise<void> | undefined;

  constructor(readonly dir: string) {
    this.manager = new OPCUACertificateManager({ rootFolder: dir, automaticallyAcceptUnknownCertificate: false, name: 'fieldgate', disableFileWatchers: true });
  }

  init(): Promise<void> {
    this.initialized ??= (async () => {
      mkdirSync(this.dir, { recursive: true });
      await this.manager.initialize();
      this.seen = this.listing();
    })();
    return this.initialized;
  }

  /**
   * Re-reads the folders when trusted/ or issuers/ changed since the manager
   * last read them: the operator trusts a certificate from another process
   * (`fieldgate pki trust`), and the running gateway must use it on its next
   * attempt. Called before each connect, so it reads only when something
   * changed (a reload empties the manager's index while it reads, which a
   * neighbour's handshake must not meet), and one reload at a time for all
   * the servers sharing this PKI.
   */
  async refresh(): Promise<void> {
    await this.init();
    while (this.refreshing) await this.refreshing;
    const now = this.listing();
    if (now === this.seen) return;
    this.refreshing = this.manager.reloadCertificates().then(
      () => {
        this.seen = now;
      },
      () => undefined,
    );
    try {
      await this.refreshing;
    } finally {
      this.refreshing = undefined;
    }
  }

  /** Names, sizes and times of the files the manager trusts by. */
  private listing(): string {
    const parts: string[] = [];
    for (const sub of ['trusted/certs', 'trusted/crl', 'issuers/certs', 'issuers/crl']) {
      const d = join(this.dir, sub);
      let names: string[];
      try {
        names = readdirSync(d).sort();
      } catch {
        continue;
      }
      for (const n of names) {
        try {
          const st = statSync(join(d, n));
          parts.push(`${sub}/${n}:${st.size}:${st.mtimeMs}`);
        } catch {
          // removed while listed
        }
      }
    }
    return parts.join('\n');
  }

  get rejectedDir(): string {
    return join(this.dir, 'rejected');
  }

  get trustedDir(): string {
    return join(this.dir, 'trusted', 'certs');
  }

  /** The rejected file holding a certificate (node-opcua names it <CN>[<sha1 thumbprint>].pem). */
  rejectedFileOf(thumbprint: string): string | undefined {
    try {
      const f = readdirSync(this.rejectedDir).find((n) => n.toLowerCase().includes(thumbprint.toLowerCase()));
      return f ? join(this.rejectedDir, f) : undefined;
    } catch {
      return undefined;
    }
  }

  /** The newest file in rejected/ written since `sinceMs`. */
  newestRejected(sinceMs: number): string | undefined {
    try {
      const files = readdirSync(this.rejectedDir)
        .map((n) => join(this.rejectedDir, n))
        .map((p) => ({ p, t: statSync(p).mtimeMs }))
        .filter((x) => x.t >= sinceMs - 1000);
      files.sort((a, b) => b.t - a.t);
      return files[0]?.p;
    } catch {
      return undefined;
    }
  }

  /**
   * trust_on_first_use: fetches the server certificate over an unsecured
   * GetEndpoints and trusts it, once per server name. A marker file remembers
   * that the first use happened, so a later, different certificate is rejected.
   */
  async trustOnFirstUse(serverName: string, endpoint: string, timeoutMs: number): Promise<string | undefined> {
    const marker = join(this.dir, 'first-use', `${Buffer.from(serverName).toString('hex')}.thumbprint`);
    try {
      readFileSync(marker);
      return undefined;
    } catch {
      // not yet used
    }
    const client = OPCUAClient.create({
      applicationName: 'fieldgate',
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 0 },
      clientCertificateManager: this.manager,
      transportTimeout: timeoutMs,
    });
    try {
      await client.connect(endpoint);
      const eps = await client.getEndpoints();
      const der = eps.map((e) => e.serverCertificate).find((c): c is Buffer => !!c && c.length > 0);
      if (!der) return undefined;
      await this.manager.trustCertificate(der);
      const thumb = createHash('sha1').update(der).digest('hex');
      mkdirSync(join(this.dir, 'first-use'), { recursive: true });
      writeFileSync(marker, `${thumb}\n`);
      return thumb;
    } finally {
      await client.disconnect().catch(() => undefined);
    }
  }
}

/** Trusts a certificate file (PEM or DER): the command behind `fieldgate pki trust`. */
export async function trustCertificateFile(pkiDir: string, file: string): Promise<{ thumbprint: string; subject: string }> {
  const raw = readFileSync(file);
  const cert = new X509Certificate(raw);
  const pki = new OpcuaPki(pkiDir);
  await pki.init();
  await pki.manager.trustCertificate(cert.raw);
  await pki.manager.dispose();
  return { thumbprint: createHash('sha1').update(cert.raw).digest('hex'), subject: cert.subject.replace(/\n/g, ', ') };
}

export function certificateSummary(file: string): { thumbprint: string; subject: string; validTo: string } {
  const cert = new X509Certificate(readFileSync(file));
  return { thumbprint: createHash('sha1').update(cert.raw).digest('hex'), subject: cert.subject.replace(/\n/g, ', '), validTo: cert.validTo };
}

function identity(a: LinkOptions['auth']): UserIdentityInfo {
  if (a.type === 'username') return { type: UserTokenType.UserName, userName: a.username!, password: a.password ?? '' };
  if (a.type === 'certificate') {
    return {
      type: UserTokenType.Certificate,
      certificateData: new X509Certificate(readFileSync(a.cert_file!)).raw,
      privateKey: readFileSync(a.key_file!, 'utf8'),
    };
  }
  return { type: UserTokenType.Anonymous };
}

/** A status code's numeric value. */
function code(s: { value: number } | undefined): number {
  return s ? s.value >>> 0 : 0;
}

export function toSample(dv: DataValue): Sample {
  const v = dv.value;
  return {
    status: code(dv.statusCode),
    sourceMs: dv.sourceTimestamp?.getTime() ?? dv.serverTimestamp?.getTime() ?? 0,
    dataType: DataType[v.dataType] ?? 'Null',
    isArray: v.arrayType !== VariantArrayType.Scalar,
    value: v.value,
  };
}

export interface BrowseChild {
  nodeId: string;
  ns: number;
  name: string;
  nodeClass: 'Object' | 'Variable' | 'Other';
  /** A property (HasTypeDefinition PropertyType), such as EURange. */
  property: boolean;
}

/** A connected session. close() ends it; `onLost` fires once when the connection or session dies. */
export class OpcuaLink {
  namespaces: string[] = [];
  private closed = false;

  private constructor(
    private readonly client: OPCUAClient,
    readonly session: ClientSession,
  ) {}

  static async open(o: LinkOptions, pki: OpcuaPki, onLost: (reason: string) => void): Promise<OpcuaLink> {
    await pki.refresh();
    const client = OPCUAClient.create({
      applicationName: 'fieldgate',
      clientName: o.clientName,
      endpointMustExist: false,
      securityMode: MessageSecurityMode[o.securityMode],
      securityPolicy: SecurityPolicy[o.securityPolicy as keyof typeof SecurityPolicy],
      clientCertificateManager: pki.manager,
      // One quick attempt: the caller's loop owns retries and backoff.
      connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
      keepSessionAlive: true,
      keepAliveInterval: Math.min(5000, Math.floor(o.sessionTimeoutMs / 3)),
      requestedSessionTimeout: o.sessionTimeoutMs,
      defaultTransactionTimeout: o.requestTimeoutMs,
      transportTimeout: o.requestTimeoutMs,
    });
    let lost = false;
    const fire = (why: string) => {
      if (lost) return;
      lost = true;
      onLost(why);
    };
    let link: OpcuaLink | undefined;
    client.on('connection_lost', () => fire('connection lost'));
    client.on('close', () => {
      if (!link?.closed) fire('connection closed');
    });
    client.on('start_reconnection', () => fire('connection lost'));
    try {
      await client.connect(o.endpoint);
      const session = await client.createSession(identity(o.auth));
      session.on('session_closed', () => {
        if (!link?.closed) fire('session closed by the server');
      });
      session.on('keepalive_failure', () => fire('session keep-alive failed'));
      link = new OpcuaLink(client, session);
      link.namespaces = await session.readNamespaceArray();
      return link;
    } catch (err) {
      lost = true;
      await client.disconnect().catch(() => undefined);
      throw err;
    }
  }

  get serverCertificateThumbprint(): string | undefined {
    const c = this.client.serverCertificate;
    const der = Array.isArray(c) ? c[0] : c;
    return der ? createHash('sha1').update(der).digest('hex') : undefined;
  }

  /** The server's operation limits (0 where it states none or cannot tell). */
  async limits(): Promise<OperationLimits> {
    const ids = [
      VariableIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerRead,
      VariableIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall,
      VariableIds.Server_ServerCapabilities_OperationLimits_MaxNodesPerBrowse,
    ];
    const dvs = await this.session.read(ids.map((i) => ({ nodeId: `i=${i}`, attributeId: AttributeIds.Value })));
    const n = (dv: DataValue | undefined) => (dv && !isBad(code(dv.statusCode)) && typeof dv.value.value === 'number' ? dv.value.value : 0);
    return { maxNodesPerRead: n(dvs[0]), maxMonitoredItemsPerCall: n(dvs[1]), maxNodesPerBrowse: n(dvs[2]) };
  }

  /** One Read request (the caller splits by the limits). */
  async read(nodeIds: readonly string[]): Promise<Sample[]> {
    const dvs = await this.session.read(
      nodeIds.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })),
      0,
    );
    return dvs.map(toSample);
  }

  /** The EURange property of a variable, for percent deadbands applied by the gateway. */
  async euRange(nodeId: string): Promise<{ low: number; high: number } | undefined> {
    const child = (await this.children(nodeId)).find((c) => c.name === 'EURange');
    if (!child) return undefined;
    const [dv] = await this.session.read([{ nodeId: child.nodeId, attributeId: AttributeIds.Value }]);
    const r = dv?.value.value as { low?: number; high?: number } | null;
    return r && typeof r.low === 'number' && typeof r.high === 'number' ? { low: r.low, high: r.high } : undefined;
  }

  /** Children of a node over hierarchical references (objects and variables), following continuation points. */
  async children(nodeId: string): Promise<BrowseChild[]> {
    const out: BrowseChild[] = [];
    let r = await this.session.browse({
      nodeId,
      browseDirection: BrowseDirection.Forward,
      referenceTypeId: ReferenceTypeIds.HierarchicalReferences,
      includeSubtypes: true,
      nodeClassMask: NodeClass.Object | NodeClass.Variable,
      resultMask: 0x3f,
    });
    for (;;) {
      for (const ref of r.references ?? []) {
        const cls = ref.nodeClass as number; // node-opcua's own NodeClass type, from another of its modules
        const nc = cls === (NodeClass.Object as number) ? 'Object' : cls === (NodeClass.Variable as number) ? 'Variable' : 'Other';
        out.push({
          nodeId: ref.nodeId.toString(),
          ns: ref.browseName.namespaceIndex,
          name: ref.browseName.name ?? '',
          nodeClass: nc,
          property: ref.typeDefinition?.toString() === 'i=68',
        });
      }
      if (!r.continuationPoint || r.continuationPoint.length === 0) break;
      [r] = await this.session.browseNext([r.continuationPoint], false);
      if (!r) break;
    }
    return out;
  }

  /** The data type name of variables, for discovery. */
  async dataTypes(nodeIds: readonly string[]): Promise<string[]> {
    const dvs = await this.session.read(nodeIds.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })));
    return dvs.map((dv) => (DataType[dv.value.dataType] ?? 'Null') + (dv.value.arrayType !== VariantArrayType.Scalar ? '[]' : ''));
  }

  async subscribe(publishingMs: number, keepAliveCount: number, lifetimeCount: number, on: SubscriptionEvents): Promise<OpcuaSubscription> {
    const sub = ClientSubscription.create(this.session, {
      requestedPublishingInterval: publishingMs,
      requestedMaxKeepAliveCount: keepAliveCount,
      requestedLifetimeCount: lifetimeCount,
      maxNotificationsPerPublish: 0,
      publishingEnabled: true,
      priority: 1,
    });
    await new Promise<void>((res, rej) => {
      sub.once('started', () => res());
      sub.once('internal_error', rej);
      sub.once('error', rej);
    });
    return new OpcuaSubscription(sub, on);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.close(true).catch(() => undefined);
    await this.client.disconnect().catch(() => undefined);
  }
}

export interface SubscriptionEvents {
  /** Every publish response (data or keep-alive): the subscription is alive. */
  onHeard(publishTimeMs: number | undefined): void;
  onTerminated(): void;
}

export interface MonitorGroup {
  readonly size: number;
}

export class OpcuaSubscription {
  readonly publishingMs: number;
  readonly keepAliveCount: number;

  constructor(
    private readonly sub: ClientSubscription,
    on: SubscriptionEvents,
  ) {
    this.publishingMs = sub.publishingInterval;
    this.keepAliveCount = sub.maxKeepAliveCount;
    sub.on('keepalive', () => on.onHeard(undefined));
    sub.on('raw_notification', (n: { publishTime?: Date | null }) => on.onHeard(n.publishTime?.getTime()));
    sub.on('terminated', () => on.onTerminated());
  }

  /**
   * One CreateMonitoredItems call. Returns each item's status; items whose
   * deadband filter the server refused are reported in `filterRefused` (the
   * caller re-creates them without one and filters itself).
   */
  async monitor(
    nodeIds: readonly string[],
    p: MonitorParams,
    onValue: (index: number, s: Sample) => void,
  ): Promise<{ group: MonitorGroup; statuses: number[] }> {
    const filter = p.deadband
      ? new DataChangeFilter({
          trigger: DataChangeTrigger.StatusValue,
          deadbandType: p.deadband.type === 'absolute' ? DeadbandType.Absolute : DeadbandType.Percent,
          deadbandValue: p.deadband.value,
        })
      : null;
    const group = ClientMonitoredItemGroup.create(
      this.sub,
      nodeIds.map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })),
      { samplingInterval: p.samplingMs, queueSize: p.queueSize, discardOldest: true, filter },
      TimestampsToReturn.Both,
    );
    await new Promise<void>((res, rej) => {
      group.once('initialized', () => res());
      group.once('err', (m: string) => rej(new Error(m)));
    });
    group.on('changed', (_item: unknown, dv: DataValue, index: number) => onValue(index, toSample(dv)));
    const statuses = group.monitoredItems.map((m) => code(m.statusCode));
    return { group: Object.assign(group, { size: nodeIds.length }), statuses };
  }

  async unmonitor(g: MonitorGroup): Promise<void> {
    await (g as unknown as ClientMonitoredItemGroup).terminate();
  }

  async terminate(): Promise<void> {
    await this.sub.terminate().catch(() => undefined);
  }
}
