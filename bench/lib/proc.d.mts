export function sleep(ms: number): Promise<void>;
export function freePort(): Promise<number>;
export function cpuSeconds(pid: number): number;
export function peakRss(pid: number): number;
