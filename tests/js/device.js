// A device written the normal way with MQTT.js, driven by the integration tests.
//
// Connects with the identity given in the environment, subscribes, publishes at QoS 1, stays
// idle across RC_IDLE seconds (MQTT.js sends PINGREQ on its own), publishes again, unsubscribes
// and ends the connection with DISCONNECT. Every wait has a deadline; any failure exits non-zero with
// a one-line reason on stderr.
//
// Environment: RC_HOST, RC_PORT, RC_PROTOCOL (3.1.1 | 5), RC_CLIENT_ID, RC_USERNAME,
// RC_PASSWORD, RC_CA (a PEM file when the server speaks TLS), RC_KEEPALIVE, RC_IDLE,
// RC_SUBSCRIBE, RC_PUBLISH, RC_PAYLOAD.
'use strict';

const fs = require('fs');
const mqtt = require('mqtt');

// How long any single step (CONNACK, SUBACK, PUBACK) may take, in milliseconds.
const STEP_DEADLINE_MS = 10000;

function env(name) {
  const value = process.env[name];
  if (value === undefined) fail(`${name} is not set`);
  return value;
}

function fail(reason) {
  process.stderr.write(`MQTT.js device: ${reason}\n`);
  process.exit(1);
}

function withDeadline(promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${STEP_DEADLINE_MS} ms`)), STEP_DEADLINE_MS);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

async function main() {
  const ca = process.env.RC_CA;
  const options = {
    host: env('RC_HOST'),
    port: Number(env('RC_PORT')),
    protocol: ca ? 'mqtts' : 'mqtt',
    protocolVersion: env('RC_PROTOCOL') === '5' ? 5 : 4,
    clientId: env('RC_CLIENT_ID'),
    keepalive: Number(env('RC_KEEPALIVE')),
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: STEP_DEADLINE_MS,
  };
  if (process.env.RC_USERNAME) {
    options.username = process.env.RC_USERNAME;
    options.password = process.env.RC_PASSWORD;
  }
  if (ca) options.ca = fs.readFileSync(ca);
  const client = await withDeadline(mqtt.connectAsync(options), 'CONNACK');
  const granted = await withDeadline(client.subscribeAsync(env('RC_SUBSCRIBE'), { qos: 1 }), 'SUBACK');
  if (granted.some((g) => g.qos === 128)) fail(`SUBACK refused: ${JSON.stringify(granted)}`);
  await publish(client, 1);
  await new Promise((resolve) => setTimeout(resolve, Number(env('RC_IDLE')) * 1000));
  await publish(client, 2);
  await withDeadline(client.unsubscribeAsync(env('RC_SUBSCRIBE')), 'UNSUBACK');
  await withDeadline(client.endAsync(), 'end of the connection');
}

async function publish(client, n) {
  const payload = env('RC_PAYLOAD').replaceAll('{n}', String(n));
  await withDeadline(client.publishAsync(env('RC_PUBLISH'), payload, { qos: 1 }), `PUBACK of publish ${n}`);
}

main().catch((e) => fail(e.message));
