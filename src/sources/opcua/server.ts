/**
 * The demo plant's OPC UA machine (`fieldgate simulate`): a node-opcua server
 * with moving values, so a fresh install shows OPC UA data at once. Like
 * client.ts it imports node-opcua; it is kept apart because only the
 * simulator uses it. It accepts any client certificate: a demo, not a server
 * to expose.
 */
import { mkdirSync } from 'node:fs';
import { DataType, MessageSecurityMode, OPCUACertificateManager, OPCUAServer, SecurityPolicy, StatusCodes, Variant, VariantArrayType } from 'node-opcua';

export const DEMO_NAMESPACE = 'urn:fieldgate:demo';

export async function startOpcuaDemoServer(o: { host: string; port: number; pkiDir: string }): Promise<{ endpoint: string; close(): Promise<void> }> {
  mkdirSync(o.pkiDir, { recursive: true });
  const scm = new OPCUACertificateManager({ rootFolder: o.pkiDir, automaticallyAcceptUnknownCertificate: true, disableFileWatchers: true });
  await scm.initialize();
  const server = new OPCUAServer({
    port: o.port,
    hostname: o.host,
    serverCertificateManager: scm,
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.SignAndEncrypt],
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
    allowAnonymous: true,
    buildInfo: { productName: 'fieldgate demo oven', manufacturerName: 'fieldgate' },
  });
  await server.initialize();
  const as = server.engine.addressSpace!;
  const ns = as.registerNamespace(DEMO_NAMESPACE);
  const oven = ns.addObject({ organizedBy: as.rootFolder.objects, browseName: 'Oven1', nodeId: 's=Oven1' });
  const v = (name: string, dataType: string) =>
    ns.addVariable({ componentOf: oven, browseName: name, nodeId: `s=Oven1.${name}`, dataType, minimumSamplingInterval: 100 });
  const temp = v('Temperature', 'Double');
  const setpoint = v('Setpoint', 'Double');
  const door = v('DoorOpen', 'Boolean');
  const energy = v('EnergyWh', 'UInt64');
  const zones = ns.addVariable({
    componentOf: oven,
    browseName: 'ZoneTemps',
    nodeId: 's=Oven1.ZoneTemps',
    dataType: 'Double',
    valueRank: 1,
    arrayDimensions: [3],
    minimumSamplingInterval: 100,
  });
  const set = (node: typeof temp, variant: Variant) => node.setValueFromSource(variant, StatusCodes.Good, new Date());
  set(setpoint, new Variant({ dataType: DataType.Double, value: 180 }));
  let wh = 0;
  const tick = () => {
    const t = Date.now() / 1000;
    const base = 180 + 3 * Math.sin((2 * Math.PI * t) / 120);
    set(temp, new Variant({ dataType: DataType.Double, value: Math.round(base * 100) / 100 }));
    set(
      zones,
      new Variant({
        dataType: DataType.Double,
        arrayType: VariantArrayType.Array,
        value: [0, 1, 2].map((i) => Math.round((base - 4 + 4 * i + Math.random()) * 10) / 10),
      }),
    );
    set(door, new Variant({ dataType: DataType.Boolean, value: Math.floor(t / 45) % 4 === 0 }));
    wh += 12;
    set(energy, new Variant({ dataType: DataType.UInt64, arrayType: VariantArrayType.Scalar, value: [0, wh] }));
  };
  tick();
  const timer = setInterval(tick, 1000);
  await server.start();
  return {
    endpoint: `opc.tcp://${o.host}:${o.port}`,
    async close() {
      clearInterval(timer);
      await server.shutdown(0);
      await scm.dispose().catch(() => undefined);
    },
  };
}
