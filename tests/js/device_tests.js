// A device written the normal way with MQTT.js, for the device tests of the client matrix.
//
// Connects (keep alive 10 s; a persistent session unless DT_CLEAN=1; in 5.0 a Session Expiry
// Interval of 300 s and a Topic Alias Maximum of 5), subscribes to DT_FILTER at QoS 2 on every
// CONNACK, prints every message it receives (answering a 5.0 request on its Response Topic with
// its Correlation Data), and publishes a retained 200-byte QoS 1 message to
// DT_TOPIC every second. MQTT.js reconnects on its own 1 s after the connection ends. Runs
// until it is killed.
//
// Environment: DT_HOST, DT_PORT, DT_PROTOCOL (3.1.1 | 5), DT_CLIENT_ID, DT_FILTER, DT_TOPIC,
// DT_CLEAN (0 | 1), DT_AUTH (1: enhanced authentication).
'use strict';

const mqtt = require('mqtt');

function env(name) {
  const value = process.env[name];
  if (value === undefined) {
    process.stderr.write(`MQTT.js device: ${name} is not set\n`);
    process.exit(1);
  }
  return value;
}

const v5 = env('DT_PROTOCOL') === '5';
const clean = env('DT_CLEAN') === '1';
const filter = env('DT_FILTER');
const topic = env('DT_TOPIC');
const options = {
  host: env('DT_HOST'),
  port: Number(env('DT_PORT')),
  protocolVersion: v5 ? 5 : 4,
  clientId: env('DT_CLIENT_ID'),
  keepalive: 10,
  clean,
  reconnectPeriod: 1000,
  resubscribe: false,
};
// DT_AUTH=1: 5.0 enhanced authentication with the cloud's method, whose challenge the
// device sends back.
const method = process.env.DT_AUTH === '1' ? 'mqtt-conform-echo' : undefined;
if (v5) {
  options.properties = { topicAliasMaximum: 5 };
  if (!clean) options.properties.sessionExpiryInterval = 300;
  if (method) options.properties.authenticationMethod = method;
}
const client = mqtt.connect(options);
if (method) {
  client.handleAuth = (packet, callback) =>
    callback(null, {
      cmd: 'auth',
      reasonCode: 0x18,
      properties: {
        authenticationMethod: method,
        authenticationData: packet.properties.authenticationData,
      },
    });
}
client.on('connect', () => client.subscribe(filter, { qos: 2 }));
client.on('message', (t, payload, packet) => {
  console.log(`${t} ${payload}`);
  // A request (5.0): answered on its Response Topic with its Correlation Data.
  const p = packet.properties || {};
  if (p.responseTopic) {
    const properties = p.correlationData ? { correlationData: p.correlationData } : {};
    client.publish(p.responseTopic, 'response', { qos: 0, properties });
  }
});
client.on('error', () => {});
const payload = Buffer.alloc(200, 'r');
setInterval(() => client.publish(topic, payload, { qos: 1, retain: true }), 1000);
