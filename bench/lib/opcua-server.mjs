// A real OPC UA server (node-opcua) in its own process for tests and benchmarks, independent of
// fieldgate's code. Usage: node opcua-server.mjs <port> <spec.json>
// spec: { pki: dir, users?: { name: password }, limits?: { maxMonitoredItemsPerCall, maxNodesPerRead },
//         allowNone?: true (offer security mode None; default true), tickMs?: 200,
//         variables: [{ name, type: 'Double'|'Int32'|'Int64'|'UInt64'|'Boolean'|'String'|'Float',
//                       value?, moving?: true, array?: n, euRange?: [low, high] }] }
// Variables live under Objects/Line3 with node ids ns=<urn:fieldgate:test>;s=Line3.<name>.
// Over IPC: 'stats' → { stats } (sizes of CreateMonitoredItems and Read requests, sessions and
// the identity token type of each ActivateSession);
// 'drop-subscriptions' → deletes every subscription while the connections stay open.
import { readFileSync } from 'node:fs';
import { OPCUACertificateManager, OPCUAServer, DataType, Variant, VariantArrayType, MessageSecurityMode, SecurityPolicy, StatusCodes } from 'node-opcua';

const [port, specFile] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(specFile, 'utf8'));
const stats = { createMonitoredItems: [], reads: [], sessions: 0 };

const scm = new OPCUACertificateManager({ rootFolder: spec.pki, automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
await scm.initialize();
// X509 user identities are accepted when signed correctly (any certificate: a test server).
const ucm = new OPCUACertificateManager({ rootFolder: `${spec.pki}-users`, automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
await ucm.initialize();
const allowNone = spec.allowNone !== false;
const server = new OPCUAServer({
  port: Number(port),
  hostname: '127.0.0.1',
  serverCertificateManager: scm,
  userCertificateManager: ucm,
  securityModes: [...(allowNone ? [MessageSecurityMode.None] : []), MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
  securityPolicies: [...(allowNone ? [SecurityPolicy.None] : []), SecurityPolicy.Basic256Sha256],
  allowAnonymous: !spec.users,
  userManager: spec.users ? { isValidUser: (u, p) => spec.users[u] !== undefined && spec.users[u] === p } : undefined,
  serverCapabilities: {
    operationLimits: { maxMonitoredItemsPerCall: spec.limits?.maxMonitoredItemsPerCall ?? 0, maxNodesPerRead: spec.limits?.maxNodesPerRead ?? 0 },
  },
});
await server.initialize();
const addressSpace = server.engine.addressSpace;
const ns = addressSpace.registerNamespace('urn:fieldgate:test');
const line = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'Line3', nodeId: 's=Line3' });
const press = ns.addObject({ componentOf: line, browseName: 'Press', nodeId: 's=Line3.Press' });

const moving = [];
for (const v of spec.variables) {
  const dataType = DataType[v.type];
  const opts = {
    componentOf: v.name.startsWith('Press.') ? press : line,
    browseName: v.name.replace(/^Press\./, ''),
    nodeId: `s=Line3.${v.name}`,
    dataType: v.type,
    minimumSamplingInterval: 50,
  };
  const node = v.euRange
    ? ns.addAnalogDataItem({ ...opts, engineeringUnitsRange: { low: v.euRange[0], high: v.euRange[1] }, dataType: v.type })
    : ns.addVariable(v.array ? { ...opts, valueRank: 1, arrayDimensions: [v.array] } : opts);
  const wide = v.type === 'Int64' || v.type === 'UInt64';
  const make = (x) =>
    v.array
      ? new Variant({ dataType, arrayType: VariantArrayType.Array, value: Array.from({ length: v.array }, (_, i) => x + i) })
      : new Variant({
          dataType,
          arrayType: VariantArrayType.Scalar,
          value: wide ? (Array.isArray(x) ? x : [0, x]) : v.type === 'Boolean' ? x % 2 === 1 : v.type === 'String' ? `s${x}` : x,
        });
  let x = v.value ?? 1;
  node.setValueFromSource(make(x), StatusCodes.Good);
  if (v.moving) moving.push(() => node.setValueFromSource(make(++x), StatusCodes.Good, new Date()));
}
setInterval(() => {
  for (const m of moving) m();
}, spec.tickMs ?? 200);

server.on('request', (request) => {
  const name = request.schema.name;
  if (name === 'CreateMonitoredItemsRequest') stats.createMonitoredItems.push(request.itemsToCreate.length);
  if (name === 'ReadRequest') stats.reads.push(request.nodesToRead.length);
  if (name === 'ActivateSessionRequest') {
    stats.sessions++;
    stats.identities = [...(stats.identities ?? []), request.userIdentityToken?.constructor?.name ?? 'none'];
  }
});
server.on('session_activated', () => undefined);
await server.start();
process.send?.('ready');
process.on('message', (m) => {
  if (m === 'stats') process.send?.({ stats });
  if (m === 'drop-subscriptions') {
    let dropped = 0;
    for (const s of server.engine.getSessions()) {
      for (const sub of s.publishEngine.subscriptions) {
        s.deleteSubscription(sub.id);
        dropped++;
      }
    }
    process.send?.({ dropped });
  }
});
