// A QoS exchange written the normal way with MQTT.js, for the client conformance matrix.
//
// Connects (clean), subscribes to QX_FILTER at QoS 2, publishes QX_COUNT messages at QoS 1 and
// QX_COUNT at QoS 2 to QX_TOPIC back to back (several flows in flight at once, in both
// directions), waits until every one came back and every own flow completed, and ends with
// DISCONNECT. Every wait has a deadline; any failure exits non-zero with a one-line reason.
//
// Environment: QX_HOST, QX_PORT, QX_PROTOCOL (3.1.1 | 5), QX_CLIENT_ID, QX_FILTER, QX_TOPIC,
// QX_COUNT; QX_WEBSOCKET=plain connects over ws://QX_HOST:QX_PORT/ instead of TCP, and
// QX_WEBSOCKET=deflate also offers permessage-deflate for every message (no size threshold).
'use strict';

const mqtt = require('mqtt');

const DEADLINE_MS = 15000;

function env(name) {
  const value = process.env[name];
  if (value === undefined) fail(`${name} is not set`);
  return value;
}

function fail(reason) {
  process.stderr.write(`MQTT.js qos: ${reason}\n`);
  process.exit(1);
}

function withDeadline(promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${DEADLINE_MS} ms`)), DEADLINE_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// TCP, or WebSocket with or without permessage-deflate.
function transport() {
  switch (process.env.QX_WEBSOCKET) {
    case undefined:
      return { protocol: 'mqtt' };
    case 'plain':
      return { protocol: 'ws', path: '/', wsOptions: { perMessageDeflate: false } };
    case 'deflate':
      return { protocol: 'ws', path: '/', wsOptions: { perMessageDeflate: { threshold: 0 } } };
    default:
      return fail(`QX_WEBSOCKET is ${process.env.QX_WEBSOCKET}, not plain or deflate`);
  }
}

async function main() {
  const count = Number(env('QX_COUNT'));
  const client = await withDeadline(
    mqtt.connectAsync({
      ...transport(),
      host: env('QX_HOST'),
      port: Number(env('QX_PORT')),
      protocolVersion: env('QX_PROTOCOL') === '5' ? 5 : 4,
      clientId: env('QX_CLIENT_ID'),
      keepalive: 60,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: DEADLINE_MS,
    }),
    'CONNACK',
  );
  let back = 0;
  const allBack = new Promise((resolve) => {
    client.on('message', () => {
      back += 1;
      if (back >= 2 * count) resolve();
    });
  });
  await withDeadline(client.subscribeAsync(env('QX_FILTER'), { qos: 2 }), 'SUBACK');
  const flows = [];
  for (const qos of [1, 2]) {
    for (let n = 0; n < count; n += 1) flows.push(client.publishAsync(env('QX_TOPIC'), `q${qos}-${n}`, { qos }));
  }
  await withDeadline(Promise.all(flows), 'the end of every own flow');
  await withDeadline(allBack, `${2 * count} deliveries`);
  await withDeadline(client.endAsync(), 'the end of the connection');
}

main().catch((e) => fail(e.message));
