import { EXIT, type Args, configOf, loopbackOf } from '../args.js';
import { DEMO_MODBUS_PORT, DEMO_OPCUA_PORT } from './simulate.js';
import { join } from 'node:path';
import { FgError, errorMessage } from '../../core/errors.js';
import { loadConfigOffThread } from '../../config/load.js';
import { Gateway } from '../../pipeline/gateway.js';
import { RecentLogs, createLogger, textFormat } from '../../telemetry/logger.js';
import { createMetrics } from '../../telemetry/metrics.js';
import { lockStateDir } from '../lock.js';
import { PlantSimulator } from '../simulate.js';
import { SystemdNotifier } from '../notify.js';

export async function run(args: Args): Promise<number> {
  const cfg = configOf(args);
  const format = args.flags.get('--log-format') ?? cfg.log.format;
  if (format !== 'auto' && format !== 'json' && format !== 'text')
    throw new FgError('FG_E_USAGE', `--log-format takes auto, json or text (got ${String(format)})`);
  const recent = new RecentLogs();
  const log = createLogger(cfg.log.level, format, recent);
  const unlock = await lockStateDir(cfg.state_dir);
  const gw = new Gateway(cfg, createMetrics(), log, { configFile: String(args.flags.get('-c')), recent });
  let sim: PlantSimulator | undefined;
  process.on('uncaughtException', (err) => {
    // The journal is crash-safe: exit and let the supervisor restart us.
    log.fatal({ err: errorMessage(err), stack: err.stack }, 'fieldgate: uncaught exception; exiting');
    process.exit(EXIT.failure); // the kernel releases the state_dir lock with the process
  });
  try {
    await gw.start();
  } catch (err) {
    await unlock();
    throw err;
  }
  const notifier = new SystemdNotifier(log);
  notifier.send(`READY=1\nSTATUS=listening on ${gw.broker.bound.map((b) => `${b.host}:${b.port}`).join(', ')}`);
  notifier.startWatchdog(() => gw.progressing());
  if (args.flags.has('--simulate')) {
    const l = cfg.broker.listeners[0];
    const bound = gw.broker.bound[0];
    if (l && bound) {
      sim = new PlantSimulator({
        host: loopbackOf(l.bind).host,
        port: bound.port,
        modbusPort: DEMO_MODBUS_PORT,
        opcuaPort: DEMO_OPCUA_PORT,
        opcuaPkiDir: join(cfg.state_dir, 'demo-server-pki'),
        intervalMs: 1000,
        rounds: 0,
        log: (s) => log.info(s),
      });
      const where = demoHints(args, cfg.http.bind, !!cfg.http.cert_file);
      void sim.start();
      sim.ready().then(
        () => (textFormat(format) ? process.stdout.write(where.text) : log.info(where.fields, 'demo: the plant is up')),
        (err: unknown) => log.error({ err: errorMessage(err) }, 'demo: the simulated plant did not start'),
      );
    }
  }
  return new Promise<number>((done) => {
    // Stopped is stopped: a handle a library left open (the demo's OPC UA server that could not
    // bind, a socket in a close handshake) must not keep the process alive past its exit code.
    const resolve = (code: number): void => {
      setTimeout(() => process.exit(code), 2000).unref();
      done(code);
    };
    let stopping = false;
    const stop = (sig: string): void => {
      if (stopping) {
        log.warn({ signal: sig }, 'fieldgate: second signal; exiting now');
        process.exit(EXIT.failure);
      }
      stopping = true;
      log.info({ signal: sig }, 'fieldgate: stopping');
      notifier.stop();
      sim?.stop();
      gw.stop().then(
        () => void unlock().then(() => resolve(EXIT.ok)),
        (err: unknown) => {
          log.error({ err: errorMessage(err) }, 'fieldgate: stop failed');
          void unlock().then(() => resolve(EXIT.failure));
        },
      );
    };
    // SIGHUP: re-read the file; a configuration that fails validation is refused and the running one stays.
    // The file is read and checked on a worker thread, so a huge or hostile one never stalls the broker.
    process.on('SIGHUP', () => {
      loadConfigOffThread(String(args.flags.get('-c'))).then(
        (next) => gw.reload(next).catch((err: unknown) => log.error({ err: errorMessage(err) }, 'reload: failed to apply')),
        (err: unknown) => log.error({ err: errorMessage(err) }, 'reload: refused; the running configuration stays'),
      );
    });
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/** Where to look once the demo plant is up: the console, a query, the metrics. */
function demoHints(args: Args, bind: string, tls: boolean): { text: string; fields: Record<string, string> } {
  const { host, port } = loopbackOf(bind);
  const base = `${tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const c = String(args.flags.get('-c'));
  const fields = {
    console: `${base}/`,
    metrics: `${base}/metrics`,
    query: `node dist/cli/main.js query -c ${c} "SELECT device, tag, count(), round(avg(value), 2) FROM fieldgate.points GROUP BY device, tag ORDER BY device, tag"`,
    status: `node dist/cli/main.js status -c ${c}`,
  };
  const text =
    `\n  The demo plant is up: MQTT machines, a Modbus TCP one (cnc4) and an OPC UA one (oven1).\n` +
    `  Console:  ${fields.console}\n  Metrics:  ${fields.metrics}\n  Status:   ${fields.status}\n  Query:    ${fields.query}\n\n`;
  return { text, fields };
}
