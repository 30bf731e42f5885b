import type { ChildProcess } from 'node:child_process';
import type { Browser } from 'playwright-core';

export declare const CHROMIUM: string;

export interface Demo {
  proc: ChildProcess;
  config: string;
  mqttPort: number;
  httpPort: number;
  url: string;
  logs: string;
  stop(): Promise<void>;
}

export declare function startDemo(o: { dir: string; http?: string; logFormat?: string }): Promise<Demo>;
export declare function launchBrowser(): Promise<Browser>;
