/**
 * OPC UA subscriptions and polling. One loop per server owns its whole
 * lifecycle: connect (with the gateway's own trust rules), create the session,
 * resolve the nodes, create the subscription and its monitored items in calls
 * the server's operation limits allow, then watch. Peers' most reported failure
 * is a subscription that dies silently after a server restart; here anything
 * that breaks the chain (connection loss, session closed, subscription
 * terminated or silent past three keep-alive periods) is noticed and rebuilt,
 * with a metric and a log line, and no restart of the gateway.
 */
import { injectedStall } from '../../core/faults.js';
import { Heartbeat } from '../../core/heartbeat.js';
import { Backoff } from '../../core/backoff.js';
import { errorMessage } from '../../core/errors.js';
import { Pause } from '../../core/pause.js';
import type { Logger } from '../../telemetry/logger.js';
import type { Metrics } from '../../telemetry/metrics.js';
import type { MonitorGroup, OpcuaLink, OpcuaSubscription, Sample } from './client.js';
import { isBad, Quality } from '../../core/quality.js';
import { describeFailure, filterRefused } from './status.js';
import { loadVendor, type Vendor } from './vendor.js';
import type { OpcuaConfig, OpcuaNodeConfig, OpcuaServerConfig } from './config.js';
import { parseBrowsePath, parseNodeId, resolveNodeId } from './nodeid.js';
import { effectiveLimits, monitorCalls, pollGroups, subscriptionTiming, watchdogMs, type MonitorParams, type OperationLimits } from './plan.js';
import { deadbandWidth, expand, passes, type RowValue } from './values.js';
import type { PointSink } from '../../core/ports.js';

interface NodeState {
  cfg: OpcuaNodeConfig;
  key: string;
  nodeId?: string;
  /** Gateway deadband width; undefined (a percent band without a range) passes every change. */
  width: number | undefined;
  last: Map<string, RowValue & { quality: number }>;
}

interface Session {
  link: OpcuaLink;
  limits: OperationLimits;
  sub?: OpcuaSubscription;
  groups: Array<{ group: MonitorGroup; nodes: NodeState[]; good: number }>;
  lastHeard: number;
  polls: Pause[];
  broken: (why: string) => void;
}

const scratch: Array<{ tag: string } & RowValue> = [];

export class OpcuaServer {
  private nodes: NodeState[] = [];
  private stopped = false;
  private readonly pause = new Pause();
  private readonly backoff = new Backoff(500, 5000);
  private session: Session | undefined;
  private running: Promise<void> | undefined;
  private connectedOnce = false;
  private lastFailure: string | undefined;
  private ops: Promise<unknown> = Promise.resolve();
  private watchdog: NodeJS.Timeout | undefined;
  private readonly label: { server: string };
  // Per-value counts, moved into the registry on scrape (no metric call per value).
  private notifications = 0;
  private bad = 0;
  private points = 0;
  private skipped = 0;
  /** Beats on every session attempt and every watchdog tick of a live session. */
  readonly heartbeat: Heartbeat;

  constructor(
    readonly cfg: OpcuaServerConfig,
    private readonly vendor: Promise<Vendor>,
    private readonly sink: PointSink,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly trustHint: string,
  ) {
    this.label = { server: cfg.name };
    this.nodes = cfg.nodes.map((n) => nodeState(n));
    this.heartbeat = new Heartbeat(
      `opcua:${cfg.name}`,
      () => 3 * cfg.request_timeout + 10_000,
      () => this.nodes.length > 0 && !this.stopped,
    );
  }

  start(): void {
    if (this.cfg.security.mode === 'None')
      this.log.warn(
        { server: this.cfg.name, endpoint: this.cfg.endpoint },
        'opcua: security mode None: values and credentials cross the network unsigned and in clear',
      );
    this.metrics.opcuaSessionUp.set(this.label, 0);
    // Every series from the start, so a dashboard shows zeros rather than gaps.
    for (const c of [
      this.metrics.opcuaReconnects,
      this.metrics.opcuaSubscriptionsRecreated,
      this.metrics.opcuaNotifications,
      this.metrics.opcuaBadStatuses,
      this.metrics.opcuaPoints,
    ])
      c.inc(this.label, 0);
    this.running = this.supervise();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.session?.broken('stopping');
    this.pause.wake();
    await this.running;
  }

  syncMetrics(): void {
    this.metrics.opcuaNotifications.inc(this.label, this.notifications);
    this.metrics.opcuaBadStatuses.inc(this.label, this.bad);
    this.metrics.opcuaPoints.inc(this.label, this.points);
    this.metrics.opcuaSkipped.inc(this.label, this.skipped);
    this.notifications = this.bad = this.points = this.skipped = 0;
  }

  /** Applies a new node list on the live session: new nodes are added, removed ones deleted, the rest untouched. */
  setNodes(nodes: OpcuaNodeConfig[]): Promise<{ added: number; removed: number }> {
    const run = async () => {
      const keep = new Map(this.nodes.map((n) => [n.key, n]));
      const next = nodes.map((n) => keep.get(JSON.stringify(n)) ?? nodeState(n));
      const nextKeys = new Set(next.map((n) => n.key));
      const removed = this.nodes.filter((n) => !nextKeys.has(n.key));
      const added = next.filter((n) => !this.nodes.includes(n));
      this.nodes = next;
      const s = this.session;
      if (s?.sub && (removed.length || added.length)) {
        // Groups that held a removed node go; their other nodes are monitored again with the new ones.
        const gone = new Set(removed);
        const again: NodeState[] = [];
        for (const g of [...s.groups]) {
          if (!g.nodes.some((n) => gone.has(n))) continue;
          await s.sub.unmonitor(g.group).catch(() => undefined);
          s.groups.splice(s.groups.indexOf(g), 1);
          again.push(...g.nodes.filter((n) => !gone.has(n)));
        }
        await this.resolve(s, added);
        await this.monitor(s, [...again, ...added.filter((n) => n.cfg.mode === 'subscribe')]);
        this.restartPolls(s);
      }
      return { added: added.length, removed: removed.length };
    };
    const p = this.ops.then(run, run);
    this.ops = p.catch(() => undefined);
    return p;
  }

  /** Never ends while the server is configured: an unexpected failure is logged and the loop starts again. */
  private async supervise(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.loop();
      } catch (err) {
        const delay = this.backoff.next();
        this.log.error({ server: this.cfg.name, err: errorMessage(err), retry_ms: delay }, 'opcua: loop failed; it starts again after a backoff');
        this.heartbeat.beat(delay);
        await this.pause.sleep(delay);
      }
    }
  }

  private async loop(): Promise<void> {
    const v = await this.vendor;
    while (!this.stopped) {
      this.heartbeat.beat();
      const t0 = Date.now();
      let why: string;
      try {
        const stall = injectedStall('opcua_session');
        if (stall) await stall;
        why = await this.runSession(v);
        this.backoff.reset();
        this.lastFailure = undefined;
      } catch (err) {
        const f = describeFailure(err);
        this.metrics.opcuaErrors.inc({ ...this.label, reason: f.untrusted ? 'untrusted' : 'connect' });
        why = f.reason;
        const repeated = f.reason === this.lastFailure;
        this.lastFailure = f.reason;
        if (f.untrusted) {
          const file = v.pki.newestRejected(t0);
          if (!repeated)
            this.log.error(
              { server: this.cfg.name, endpoint: this.cfg.endpoint, certificate: file },
              `opcua: ${f.reason}; it was stored in pki/rejected. Check its thumbprint with the server's operator, then trust it: fieldgate pki trust ${file ? shellQuote(file) : '<file>'}${this.trustHint}`,
            );
          // The operator may trust it from another process: the next attempt looks at the folders again (OpcuaPki.refresh).
        } else if (!repeated) {
          // Once per kind of failure, not once per retry.
          this.log.warn({ server: this.cfg.name, endpoint: this.cfg.endpoint, err: f.reason }, 'opcua: cannot open a session; retrying with backoff');
        }
      }
      this.markAll(Quality.BadNoCommunication);
      if (this.stopped) break;
      const delay = this.backoff.next();
      this.log.debug({ server: this.cfg.name, why, retry_ms: delay }, 'opcua: session ended');
      this.heartbeat.beat(delay);
      await this.pause.sleep(delay);
    }
  }

  /** One session from connect to loss; returns why it ended. */
  private async runSession(v: Vendor): Promise<string> {
    const c = this.cfg;
    if (c.trust_on_first_use && c.security.mode !== 'None') {
      const thumb = await v.pki.trustOnFirstUse(c.name, c.endpoint, c.request_timeout);
      if (thumb)
        this.log.warn(
          { server: c.name, thumbprint: thumb },
          'opcua: trusted the server certificate on first use (trust_on_first_use); a different certificate later will be rejected',
        );
    }
    let resolveBroken!: (why: string) => void;
    const ended = new Promise<string>((r) => (resolveBroken = r));
    const link = await v.mod.OpcuaLink.open(
      {
        endpoint: c.endpoint,
        clientName: c.name,
        securityMode: c.security.mode,
        securityPolicy: c.security.policy!,
        auth: c.auth,
        requestTimeoutMs: c.request_timeout,
        sessionTimeoutMs: c.session_timeout,
      },
      v.pki,
      (why) => resolveBroken(why),
    );
    const s: Session = {
      link,
      limits: effectiveLimits(
        await link.limits().catch(() => ({ maxNodesPerRead: 0, maxMonitoredItemsPerCall: 0, maxNodesPerBrowse: 0 })),
        configuredLimits(c),
      ),
      groups: [],
      lastHeard: Date.now(),
      polls: [],
      broken: resolveBroken,
    };
    this.session = s;
    // A stop that came while the session was opening found no session to end: end it now.
    if (this.stopped) resolveBroken('stopping');
    try {
      await this.resolve(s, this.nodes);
      await this.subscribe(s);
      this.restartPolls(s);
      this.metrics.opcuaSessionUp.set(this.label, 1);
      if (this.connectedOnce) this.metrics.opcuaReconnects.inc(this.label);
      this.log.info(
        {
          server: c.name,
          endpoint: c.endpoint,
          security: `${c.security.mode}/${c.security.policy}`,
          items: s.groups.reduce((a, g) => a + g.good, 0),
          limits: s.limits,
        },
        this.connectedOnce ? 'opcua: session re-created' : 'opcua: session open',
      );
      this.connectedOnce = true;
      this.watchdog = setInterval(() => this.checkAlive(s), 1000);
      if (this.stopped) resolveBroken('stopping');
      const why = await ended;
      if (!this.stopped) {
        this.metrics.opcuaErrors.inc({ ...this.label, reason: 'session_lost' });
        this.log.warn({ server: c.name, why }, 'opcua: session lost; re-creating it');
      }
      return why;
    } finally {
      clearInterval(this.watchdog);
      for (const p of s.polls) p.wake();
      s.polls = [];
      this.session = undefined;
      this.metrics.opcuaSessionUp.set(this.label, 0);
      this.metrics.opcuaMonitoredItems.set(this.label, 0);
      await link.close();
    }
  }

  /** Turns node_id (ns/nsu) and browse_path into node ids of this session; unknown ones get one bad row. */
  private async resolve(s: Session, nodes: NodeState[]): Promise<void> {
    for (const n of nodes) {
      n.nodeId = undefined;
      if (n.cfg.node_id !== undefined) {
        const ref = parseNodeId(n.cfg.node_id);
        if (typeof ref !== 'string') n.nodeId = resolveNodeId(ref, s.link.namespaces);
      } else {
        n.nodeId = await this.browse(s, n.cfg.browse_path!);
      }
      if (!n.nodeId) {
        this.log.warn(
          { server: this.cfg.name, tag: n.cfg.tag, node: n.cfg.node_id ?? n.cfg.browse_path },
          'opcua: node not found on the server (unknown namespace URI or browse path)',
        );
        this.write(n, { tag: n.cfg.tag, value: Number.NaN, text: '' }, Quality.BadNodeIdUnknown, Date.now(), Date.now());
      }
      if (n.cfg.deadband?.type === 'percent' && n.nodeId) {
        const range = await s.link.euRange(n.nodeId).catch(() => undefined);
        n.width = deadbandWidth(n.cfg.deadband, range);
        if (n.width === undefined)
          this.log.warn({ server: this.cfg.name, tag: n.cfg.tag }, 'opcua: percent deadband without an EURange on the server; every change is written');
      }
    }
    this.metrics.opcuaNodeErrors.set(this.label, this.nodes.filter((n) => !n.nodeId).length);
  }

  private async browse(s: Session, path: string): Promise<string | undefined> {
    const segs = parseBrowsePath(path);
    if (typeof segs === 'string') return undefined;
    let at = 'i=84'; // RootFolder
    for (const seg of segs) {
      const kids = await s.link.children(at);
      const hit = kids.find((k) => k.name === seg.name && (seg.ns === undefined || k.ns === seg.ns));
      if (!hit) return undefined;
      at = hit.nodeId;
    }
    return at;
  }

  private async subscribe(s: Session): Promise<void> {
    const t = subscriptionTiming(this.cfg.publishing_interval);
    s.sub = await s.link.subscribe(this.cfg.publishing_interval, t.keepAliveCount, t.lifetimeCount, {
      onHeard: (publishMs) => {
        s.lastHeard = Date.now();
        if (publishMs !== undefined) this.metrics.opcuaPublishLatency.observe(this.label, Math.max(0, s.lastHeard - publishMs) / 1000);
      },
      onTerminated: () => {
        if (this.session === s && !this.stopped) s.lastHeard = 0; // the watchdog re-creates it on its next tick
      },
    });
    s.groups = [];
    s.lastHeard = Date.now();
    await this.monitor(
      s,
      this.nodes.filter((n) => n.cfg.mode === 'subscribe'),
    );
  }

  /** Creates monitored items in calls of at most the server's limit; a refused deadband filter is retried without one (the gateway filters). */
  private async monitor(s: Session, nodes: NodeState[]): Promise<void> {
    const sub = s.sub!;
    const items = nodes.filter((n) => n.nodeId).map((n) => ({ n, params: this.params(n) }));
    const refused: typeof items = [];
    for (const call of monitorCalls(items, s.limits.maxMonitoredItemsPerCall)) {
      const list = call.items;
      const { group, statuses } = await sub.monitor(
        list.map((x) => x.n.nodeId!),
        call.params,
        (i, sample) => this.onSample(list[i].n, sample),
      );
      s.groups.push({ group, nodes: list.map((x) => x.n), good: statuses.filter((st) => !isBad(st)).length });
      statuses.forEach((st, i) => {
        if (!isBad(st)) return;
        if (filterRefused(st)) refused.push({ n: list[i].n, params: { ...call.params, deadband: undefined } });
        else {
          this.log.warn({ server: this.cfg.name, tag: list[i].n.cfg.tag, status: `0x${st.toString(16)}` }, 'opcua: the server refused a monitored item');
          this.write(list[i].n, { tag: list[i].n.cfg.tag, value: Number.NaN, text: '' }, st, Date.now(), Date.now());
        }
      });
    }
    if (refused.length) {
      this.log.info({ server: this.cfg.name, items: refused.length }, 'opcua: the server refused the deadband filter; the gateway applies it');
      for (const call of monitorCalls(refused, s.limits.maxMonitoredItemsPerCall)) {
        const list = call.items;
        const { group, statuses } = await sub.monitor(
          list.map((x) => x.n.nodeId!),
          call.params,
          (i, sample) => this.onSample(list[i].n, sample),
        );
        s.groups.push({ group, nodes: list.map((x) => x.n), good: statuses.filter((st) => !isBad(st)).length });
      }
    }
    this.metrics.opcuaMonitoredItems.set(
      this.label,
      s.groups.reduce((a, g) => a + g.good, 0),
    );
  }

  private params(n: NodeState): MonitorParams {
    return {
      samplingMs: n.cfg.sampling_interval ?? this.cfg.publishing_interval,
      queueSize: n.cfg.queue_size ?? this.cfg.queue_size,
      ...(n.cfg.deadband && n.cfg.deadband.value > 0 ? { deadband: n.cfg.deadband } : {}),
    };
  }

  /** Every second: a subscription silent past three keep-alive periods (or terminated) is re-created on the session. */
  private checkAlive(s: Session): void {
    this.heartbeat.beat();
    const sub = s.sub;
    if (!sub || this.session !== s) return;
    if (Date.now() - s.lastHeard <= watchdogMs(sub.publishingMs, sub.keepAliveCount)) return;
    s.sub = undefined;
    const run = async () => {
      this.log.warn({ server: this.cfg.name, silent_ms: Date.now() - s.lastHeard }, 'opcua: subscription lost or silent; re-creating it');
      this.metrics.opcuaSubscriptionsRecreated.inc(this.label);
      await sub.terminate();
      try {
        await this.subscribe(s);
      } catch (err) {
        s.broken(`re-creating the subscription failed: ${errorMessage(err)}`);
      }
    };
    const p = this.ops.then(run, run);
    this.ops = p.catch(() => undefined);
  }

  private restartPolls(s: Session): void {
    for (const p of s.polls) p.wake();
    const mine: Pause[] = [];
    s.polls = mine;
    const polled = this.nodes.filter((n) => n.cfg.mode === 'poll' && n.nodeId).map((n) => ({ n, intervalMs: n.cfg.poll_interval ?? this.cfg.poll_interval }));
    for (const g of pollGroups(polled, s.limits.maxNodesPerRead)) {
      const pause = new Pause();
      mine.push(pause);
      void this.pollLoop(s, g.intervalMs, g.reads, pause, mine);
    }
  }

  private async pollLoop(s: Session, intervalMs: number, reads: Array<Array<{ n: NodeState }>>, pause: Pause, generation: Pause[]): Promise<void> {
    let due = Date.now();
    while (!this.stopped && this.session === s && s.polls === generation) {
      for (const r of reads) {
        try {
          const samples = await s.link.read(r.map((x) => x.n.nodeId!));
          samples.forEach((sample, i) => this.onSample(r[i].n, sample));
        } catch (err) {
          this.metrics.opcuaErrors.inc({ ...this.label, reason: 'read' });
          this.log.warn({ server: this.cfg.name, err: errorMessage(err) }, 'opcua: read failed');
          break;
        }
      }
      due += intervalMs;
      const now = Date.now();
      if (due < now) due = now + intervalMs - ((now - due) % intervalMs);
      await pause.sleep(due - now);
    }
  }

  private onSample(n: NodeState, s: Sample): void {
    const now = Date.now();
    this.notifications++;
    if (isBad(s.status)) this.bad++;
    scratch.length = 0;
    expand(n.cfg.tag, s.dataType, s.isArray, s.value, scratch);
    if (scratch.length === 0) scratch.push({ tag: n.cfg.tag, value: Number.NaN, text: '' });
    for (const row of scratch) this.write(n, row, s.status, s.sourceMs || now, now);
  }

  /** Writes a row unless it is within the deadband of the last one (same quality). */
  private write(n: NodeState, row: { tag: string } & RowValue, quality: number, ts: number, now: number): void {
    if (this.sink.blocked) {
      // The journal cannot take it (full with on_full: block, a low disk, commits failing): the
      // value is skipped like a Modbus poll is, and the next change after that is written.
      this.skipped++;
      return;
    }
    const last = n.last.get(row.tag);
    if (last && last.quality === quality && !passes(n.width ?? 0, last, row)) return;
    n.last.set(row.tag, { value: row.value, text: row.text, quality });
    this.sink.appendPoint(now, { ts, device: this.cfg.name, tag: row.tag, value: row.value, text: row.text, quality });
    this.points++;
  }

  /** On a lost session: one BadNoCommunication row per value that was not bad already. */
  private markAll(q: number): void {
    const now = Date.now();
    for (const n of this.nodes) for (const [tag, last] of n.last) if (!isBad(last.quality)) this.write(n, { tag, value: Number.NaN, text: '' }, q, now, now);
  }
}

/** A path a plant operator can paste into a shell (rejected files are named like NodeOPCUA@host[thumbprint].pem). */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function nodeState(cfg: OpcuaNodeConfig): NodeState {
  return { cfg, key: JSON.stringify(cfg), width: cfg.deadband ? deadbandWidth(cfg.deadband) : 0, last: new Map() };
}

function configuredLimits(c: OpcuaServerConfig): Partial<OperationLimits> {
  const l = c.operation_limits;
  return { maxNodesPerRead: l.max_nodes_per_read, maxMonitoredItemsPerCall: l.max_monitored_items_per_call, maxNodesPerBrowse: l.max_nodes_per_browse };
}

/** Every configured server. */
export class OpcuaSource {
  private servers = new Map<string, { server: OpcuaServer; json: string }>();
  private vendor: Promise<Vendor> | undefined;

  constructor(
    private cfg: OpcuaConfig,
    private readonly sink: PointSink,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly pkiDir: string,
    private readonly trustHint = '',
  ) {}

  start(): void {
    for (const c of this.cfg.servers) this.add(c);
  }

  private add(c: OpcuaServerConfig): void {
    this.vendor ??= loadVendor(this.pkiDir, this.log);
    const s = new OpcuaServer(c, this.vendor, this.sink, this.metrics, this.log, this.trustHint);
    this.servers.set(c.name, { server: s, json: connectionKey(c) });
    s.start();
  }

  /** Servers whose connection settings are unchanged keep their session and get the new node list; others reconnect. */
  async reload(cfg: OpcuaConfig): Promise<{ kept: string[]; restarted: string[]; removed: string[] }> {
    const kept: string[] = [];
    const restarted: string[] = [];
    const names = new Set(cfg.servers.map((s) => s.name));
    const removed = [...this.servers.keys()].filter((n) => !names.has(n));
    for (const n of removed) {
      await this.servers.get(n)!.server.stop();
      this.servers.delete(n);
    }
    for (const c of cfg.servers) {
      const cur = this.servers.get(c.name);
      if (cur && cur.json === connectionKey(c)) {
        await cur.server.setNodes(c.nodes);
        kept.push(c.name);
      } else {
        if (cur) await cur.server.stop();
        this.add(c);
        restarted.push(c.name);
      }
    }
    this.cfg = cfg;
    return { kept, restarted, removed };
  }

  syncMetrics(): void {
    for (const { server } of this.servers.values()) server.syncMetrics();
  }

  probes(): Heartbeat[] {
    return [...this.servers.values()].map((s) => s.server.heartbeat);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.servers.values()].map((s) => s.server.stop()));
    if (this.vendor) await (await this.vendor).pki.manager.dispose().catch(() => undefined);
  }
}

/** Everything but the node list: a change here needs a new session. */
function connectionKey(c: OpcuaServerConfig): string {
  return JSON.stringify({ ...c, nodes: undefined });
}
