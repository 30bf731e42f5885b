/**
 * Request planning, pure: monitored items grouped by their monitoring
 * parameters and cut into calls no larger than the server's operation limits
 * (Part 5 ServerCapabilities/OperationLimits; 0 means no limit), and polled
 * nodes grouped by interval and cut into reads.
 */

export interface OperationLimits {
  maxNodesPerRead: number;
  maxMonitoredItemsPerCall: number;
  maxNodesPerBrowse: number;
}

export const NO_LIMITS: OperationLimits = { maxNodesPerRead: 0, maxMonitoredItemsPerCall: 0, maxNodesPerBrowse: 0 };

/** A hard ceiling even when a server states no limit: one request stays a reasonable size. */
export const CALL_CEILING = 1000;

/** Configured limits win over the server's; a 0 on both sides means the ceiling. */
export function effectiveLimits(server: OperationLimits, configured: Partial<OperationLimits>): OperationLimits {
  const pick = (k: keyof OperationLimits) => {
    const c = configured[k] ?? 0;
    const s = server[k];
    const v = c > 0 ? c : s > 0 ? s : CALL_CEILING;
    return Math.min(v, CALL_CEILING);
  };
  return { maxNodesPerRead: pick('maxNodesPerRead'), maxMonitoredItemsPerCall: pick('maxMonitoredItemsPerCall'), maxNodesPerBrowse: pick('maxNodesPerBrowse') };
}

/** Cuts a list into consecutive pieces of at most `size`. */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const n = Math.max(1, Math.floor(size));
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += n) out.push(items.slice(i, i + n));
  return out;
}

/** What a monitored item is created with; items that share it share a CreateMonitoredItems call. */
export interface MonitorParams {
  samplingMs: number;
  queueSize: number;
  deadband?: { type: 'absolute' | 'percent'; value: number };
}

export function paramsKey(p: MonitorParams): string {
  return `${p.samplingMs}|${p.queueSize}|${p.deadband ? `${p.deadband.type}:${p.deadband.value}` : ''}`;
}

/** Groups item indices by parameters (in first-seen order), each group cut to the per-call limit. */
export function monitorCalls<T extends { params: MonitorParams }>(items: readonly T[], maxPerCall: number): Array<{ params: MonitorParams; items: T[] }> {
  const byKey = new Map<string, { params: MonitorParams; items: T[] }>();
  for (const it of items) {
    const k = paramsKey(it.params);
    let g = byKey.get(k);
    if (!g) byKey.set(k, (g = { params: it.params, items: [] }));
    g.items.push(it);
  }
  const out: Array<{ params: MonitorParams; items: T[] }> = [];
  for (const g of byKey.values()) for (const c of chunks(g.items, maxPerCall)) out.push({ params: g.params, items: c });
  return out;
}

/** Polled nodes by interval (shortest first), each interval's nodes cut into reads. */
export function pollGroups<T extends { intervalMs: number }>(items: readonly T[], maxPerRead: number): Array<{ intervalMs: number; reads: T[][] }> {
  const by = new Map<number, T[]>();
  for (const it of items) {
    const l = by.get(it.intervalMs);
    if (l) l.push(it);
    else by.set(it.intervalMs, [it]);
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map(([intervalMs, l]) => ({ intervalMs, reads: chunks(l, maxPerRead) }));
}

/**
 * Subscription timing: a keep-alive at least every ~2 s whatever the publishing
 * interval, a lifetime of six keep-alives (the spec asks ≥ 3), and a watchdog
 * that declares the subscription lost after three silent keep-alive periods.
 */
export function subscriptionTiming(publishingMs: number): { keepAliveCount: number; lifetimeCount: number } {
  const keepAliveCount = Math.max(1, Math.ceil(2000 / Math.max(1, publishingMs)));
  return { keepAliveCount, lifetimeCount: keepAliveCount * 6 };
}

export function watchdogMs(revisedPublishingMs: number, revisedKeepAliveCount: number): number {
  return Math.max(5000, 3 * revisedPublishingMs * Math.max(1, revisedKeepAliveCount) + 1000);
}
