"""A device written the normal way with paho-mqtt, driven by the integration tests.

Connects with the identity given in the environment, subscribes, publishes at QoS 1, stays
idle across RC_IDLE seconds (paho sends PINGREQ on its own), publishes again, unsubscribes
and disconnects.
Every wait has a deadline; any failure exits non-zero with a one-line reason on stderr.

Environment: RC_HOST, RC_PORT, RC_PROTOCOL (3.1.1 | 5), RC_CLIENT_ID, RC_USERNAME,
RC_PASSWORD, RC_CA (a PEM file when the server speaks TLS), RC_KEEPALIVE, RC_IDLE,
RC_SUBSCRIBE, RC_PUBLISH, RC_PAYLOAD.
"""

import os
import sys
import threading
import time

try:
    import paho.mqtt.client as mqtt

    mqtt.CallbackAPIVersion  # paho-mqtt 2: the callbacks below use its signatures
except (ImportError, AttributeError):
    sys.exit("paho device: paho-mqtt 2 is not installed (pip install 'paho-mqtt>=2,<3')")

# How long any single step (CONNACK, SUBACK, PUBACK) may take.
STEP_DEADLINE = 10.0


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"paho device: {name} is not set")
    return value


def main():
    protocol = mqtt.MQTTv5 if env("RC_PROTOCOL") == "5" else mqtt.MQTTv311
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=env("RC_CLIENT_ID"),
        protocol=protocol,
    )
    user = os.environ.get("RC_USERNAME")
    if user:
        client.username_pw_set(user, os.environ.get("RC_PASSWORD") or None)
    ca = os.environ.get("RC_CA")
    if ca:
        client.tls_set(ca_certs=ca)

    connected = threading.Event()
    subscribed = threading.Event()
    unsubscribed = threading.Event()
    failure = []

    def on_connect(_client, _userdata, _flags, reason_code, _properties):
        if reason_code.is_failure:
            failure.append(f"CONNACK refused: {reason_code}")
        connected.set()

    def on_subscribe(_client, _userdata, _mid, reason_codes, _properties):
        if any(code.is_failure for code in reason_codes):
            failure.append(f"SUBACK refused: {reason_codes}")
        subscribed.set()

    def on_unsubscribe(_client, _userdata, _mid, _reason_codes, _properties):
        unsubscribed.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_unsubscribe = on_unsubscribe

    keepalive = int(env("RC_KEEPALIVE"))
    client.connect(env("RC_HOST"), int(env("RC_PORT")), keepalive=keepalive)
    client.loop_start()
    step(connected, "CONNACK", failure)
    client.subscribe(env("RC_SUBSCRIBE"), qos=1)
    step(subscribed, "SUBACK", failure)
    publish(client, 1)
    time.sleep(float(env("RC_IDLE")))
    publish(client, 2)
    client.unsubscribe(env("RC_SUBSCRIBE"))
    step(unsubscribed, "UNSUBACK", failure)
    client.disconnect()
    client.loop_stop()


def step(event, what, failure):
    if not event.wait(STEP_DEADLINE):
        sys.exit(f"paho device: no {what} within {STEP_DEADLINE} s")
    if failure:
        sys.exit(f"paho device: {failure[0]}")


def publish(client, n):
    payload = env("RC_PAYLOAD").replace("{n}", str(n))
    info = client.publish(env("RC_PUBLISH"), payload, qos=1)
    info.wait_for_publish(STEP_DEADLINE)
    if not info.is_published():
        sys.exit(f"paho device: publish {n} not acknowledged within {STEP_DEADLINE} s")


if __name__ == "__main__":
    main()
