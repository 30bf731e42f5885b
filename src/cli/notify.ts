/**
 * systemd's notify protocol: READY=1 once listening, WATCHDOG=1 while the
 * pipeline makes progress, STOPPING=1 on shutdown, STATUS= lines for
 * `systemctl status`.
 *
 * Node cannot open a Unix datagram socket. The messages go through the
 * optional addon unix-dgram (in process, so systemd always knows the sender);
 * where it is not installed (it compiles at install time), through the
 * systemd-notify command, which needs NotifyAccess=all (the unit sets it) and
 * is kept alive a moment after sending: on systemd before 254 a sender that has
 * already exited cannot be matched to its service.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../telemetry/logger.js';

interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, cb?: (err?: Error) => void): void;
  on(event: 'error', cb: (err: Error) => void): void;
  close(): void;
}

function openDgram(): DgramSocket | undefined {
  try {
    const unix = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): DgramSocket };
    const s = unix.createSocket('unix_dgram');
    s.on('error', () => undefined);
    return s;
  } catch {
    return undefined;
  }
}

export class SystemdNotifier {
  private readonly path: string | undefined;
  private socket: DgramSocket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private warned = false;

  constructor(
    private readonly log: Logger,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const p = env.NOTIFY_SOCKET;
    // An abstract socket (@name) is addressed with a leading NUL byte.
    this.path = p ? (p.startsWith('@') ? `\0${p.slice(1)}` : p) : undefined;
    const usec = Number(env.WATCHDOG_USEC);
    const pid = env.WATCHDOG_PID ? Number(env.WATCHDOG_PID) : process.pid;
    this.watchdogMs = Number.isFinite(usec) && usec > 0 && pid === process.pid ? usec / 1000 : 0;
  }

  /** The watchdog interval systemd asked for (0: none). */
  readonly watchdogMs: number;

  get enabled(): boolean {
    return this.path !== undefined;
  }

  send(state: string): void {
    if (!this.path) return;
    this.socket ??= openDgram();
    if (this.socket) {
      const buf = Buffer.from(state);
      this.socket.send(buf, 0, buf.length, this.path, (err) => {
        if (err) this.log.warn({ err: errorMessage(err) }, 'systemd: notify message not sent');
      });
      return;
    }
    if (!this.warned) {
      this.warned = true;
      this.log.warn('systemd: the unix-dgram addon is not installed; notifying through systemd-notify (needs NotifyAccess=all)');
    }
    const p = spawn('sh', ['-c', 'systemd-notify "$@"; sleep 1', 'sh', ...state.split('\n')], {
      stdio: 'ignore',
      env: { ...process.env, NOTIFY_SOCKET: this.path },
    });
    p.on('error', () => undefined);
    p.unref();
  }

  /** Feeds the watchdog every third of its interval while `progressing()` says so. */
  startWatchdog(progressing: () => boolean): void {
    if (!this.path || this.watchdogMs <= 0) return;
    let stalled = false;
    this.timer = setInterval(
      () => {
        if (progressing()) {
          if (stalled) this.log.info('systemd: the pipeline moves again; feeding the watchdog');
          stalled = false;
          this.send('WATCHDOG=1');
        } else if (!stalled) {
          stalled = true;
          this.log.error('systemd: the pipeline makes no progress; no longer feeding the watchdog');
        }
      },
      Math.max(100, Math.floor(this.watchdogMs / 3)),
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.send('STOPPING=1');
    // Let the last datagram leave before the socket goes.
    setTimeout(() => this.socket?.close(), 50).unref();
  }
}
