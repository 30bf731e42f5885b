// The baseline: a bare aedes with the same options as the gateway's broker and
// no ingest (no journal, no store). Usage: node bare-broker.mjs <port>
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2]);
const broker = await Aedes.createBroker({ concurrency: 0 });
createServer(broker.handle).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
