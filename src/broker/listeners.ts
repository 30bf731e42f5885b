/**
 * MQTT listeners: tcp, tls (optionally requiring client certificates), and
 * MQTT over WebSocket (ws, wss) on a path. Each hands aedes a duplex stream
 * and says where it came from (listener, remote address, certificate CN).
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { FgError, errorMessage } from '../core/errors.js';
import type { ListenerConfig } from './config.js';
import { isLoopbackHost, type ConnInfo } from './security.js';

/**
 * How much a connection's stream buffers before aedes reads it: aedes parses all of it in one go
 * (conn.read(null)), so this sets how many messages are in flight per turn of the event loop. At
 * 256 KiB, four QoS 0 publishers put ~50,000 deliveries (Packet, Immediate, closures) in flight at
 * once; they outlived two scavenges and filled the old space: the QoS 0 flood test's heap grew to
 * 350 MB and its RSS to 710-800 MB. At 16 KiB (Node's default) it peaks at 460-520 MB, and the
 * acknowledged and stored rates in bench/ingest.js are unchanged (within the run-to-run spread).
 */
const SOCKET_BUFFER = 16 * 1024;

export interface Listening {
  host: string;
  port: number;
  close(): Promise<void>;
}

export function parseBind(bind: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(bind);
  if (!m) throw new FgError('FG_E_LISTEN', `cannot parse listen address ${bind}`);
  return { host: m[1], port: Number(m[2]) };
}

function tlsOptions(l: ListenerConfig) {
  return {
    cert: readFileSync(l.cert_file!),
    key: readFileSync(l.key_file!),
    ...(l.ca_file ? { ca: readFileSync(l.ca_file) } : {}),
    requestCert: l.require_client_cert,
    rejectUnauthorized: l.require_client_cert,
    minVersion: 'TLSv1.2' as const,
  };
}

function peerCn(s: Socket): string | undefined {
  const t = s as TLSSocket;
  if (typeof t.getPeerCertificate !== 'function' || !t.authorized) return undefined;
  const cn = t.getPeerCertificate()?.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn || undefined;
}

export function isLoopbackBind(bind: string): boolean {
  return isLoopbackHost(parseBind(bind).host);
}

/** Opens one listener; `onStream` gets each client's stream and where it came from. */
export async function listen(
  l: ListenerConfig,
  onStream: (stream: Duplex, info: ConnInfo) => void,
  onError: (err: Error) => void,
  onAcceptError: (err: Error) => void,
): Promise<Listening> {
  const { host, port } = parseBind(l.bind);
  const loopback = isLoopbackHost(host);
  const info = (s: Socket): ConnInfo => {
    const cn = l.require_client_cert ? peerCn(s) : undefined;
    return { listener: l, loopback, remote: s.remoteAddress ?? '', ...(cn ? { certCn: cn } : {}) };
  };
  let server: NetServer | HttpServer;
  let wss: WebSocketServer | undefined;
  if (l.type === 'tcp') {
    server = createNetServer({ highWaterMark: SOCKET_BUFFER }, (s) => onStream(s, info(s)));
  } else if (l.type === 'tls') {
    server = createTlsServer({ ...tlsOptions(l), highWaterMark: SOCKET_BUFFER }, (s) => onStream(s, info(s)));
    server.on('tlsClientError', (err: Error) => onError(err));
  } else {
    const http = l.type === 'wss' ? createHttpsServer(tlsOptions(l)) : createHttpServer();
    if (l.type === 'wss') http.on('tlsClientError', (err: Error) => onError(err));
    wss = new WebSocketServer({ server: http, path: l.path, perMessageDeflate: false });
    wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws);
      stream.on('error', () => undefined);
      onStream(stream, info(req.socket));
    });
    server = http;
  }
  await new Promise<void>((res, rej) => {
    server.once('error', (err) => rej(new FgError('FG_E_LISTEN', `broker: cannot listen on ${l.bind} (${l.type}): ${errorMessage(err)}`)));
    server.listen(port, host, () => res());
  });
  // After the bind, an error is accept() failing (EMFILE: out of file descriptors): say so, keep listening.
  server.on('error', onAcceptError);
  const addr = server.address();
  return {
    host,
    port: addr && typeof addr === 'object' ? addr.port : port,
    close: () =>
      new Promise<void>((res) => {
        wss?.close();
        server.close(() => res());
        // WebSocket and TLS servers keep idle keep-alive sockets; the broker closes the clients itself.
        (server as HttpServer).closeAllConnections?.();
      }),
  };
}
