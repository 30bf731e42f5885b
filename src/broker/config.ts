import { array, listenAddress, object, oneOf, type Infer } from '../core/schema.js';

const listener = object(
  {
    type: oneOf(['tcp'], { description: 'tcp: plain MQTT 3.1/3.1.1 (tls, ws and wss come with the broker security work).', default: 'tcp' }),
    bind: listenAddress({ description: 'Address and port to listen on.', example: '127.0.0.1:1883' }),
  },
  { description: 'One MQTT listener.', required: ['bind'] },
);

export const brokerSchema = object(
  {
    listeners: { ...array(listener, { description: 'Where devices connect.', example: '- { type: tcp, bind: "127.0.0.1:1883" }' }), default: [{ type: 'tcp' as const, bind: '127.0.0.1:1883' }], defaultText: '[{ type: tcp, bind: "127.0.0.1:1883" }]' },
  },
  { description: 'The embedded MQTT broker (aedes) devices publish to.' },
);
export type BrokerConfig = Infer<typeof brokerSchema>;
