"""A QoS exchange written the normal way with paho-mqtt, for the client conformance matrix.

Connects (clean), subscribes to QX_FILTER at QoS 2, publishes QX_COUNT messages at QoS 1 and
QX_COUNT at QoS 2 to QX_TOPIC back to back (so several flows are in flight at once, in both
directions), waits until every one came back from the server and every own flow completed,
and disconnects. Every wait has a deadline; any failure exits non-zero with a one-line reason.

Environment: QX_HOST, QX_PORT, QX_PROTOCOL (3.1.1 | 5), QX_CLIENT_ID, QX_FILTER, QX_TOPIC,
QX_COUNT.
"""

import os
import sys
import threading

try:
    import paho.mqtt.client as mqtt

    mqtt.CallbackAPIVersion
except (ImportError, AttributeError):
    sys.exit("paho qos: paho-mqtt 2 is not installed (pip install 'paho-mqtt>=2,<3')")

DEADLINE = 15.0


def env(name):
    value = os.environ.get(name)
    if value is None:
        sys.exit(f"paho qos: {name} is not set")
    return value


def main():
    protocol = mqtt.MQTTv5 if env("QX_PROTOCOL") == "5" else mqtt.MQTTv311
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=env("QX_CLIENT_ID"), protocol=protocol
    )
    count = int(env("QX_COUNT"))
    connected = threading.Event()
    subscribed = threading.Event()
    all_back = threading.Event()
    received = []

    def on_connect(_c, _u, _f, reason_code, _p):
        if reason_code.is_failure:
            sys.exit(f"paho qos: CONNACK refused: {reason_code}")
        connected.set()

    def on_subscribe(_c, _u, _mid, _codes, _p):
        subscribed.set()

    def on_message(_c, _u, message):
        received.append(message.payload)
        if len(received) >= 2 * count:
            all_back.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(env("QX_HOST"), int(env("QX_PORT")), keepalive=60)
    client.loop_start()
    wait(connected, "CONNACK")
    client.subscribe(env("QX_FILTER"), qos=2)
    wait(subscribed, "SUBACK")
    infos = [client.publish(env("QX_TOPIC"), f"q{qos}-{n}", qos=qos) for qos in (1, 2) for n in range(count)]
    for info in infos:
        info.wait_for_publish(DEADLINE)
        if not info.is_published():
            sys.exit("paho qos: a publish did not complete")
    wait(all_back, f"{2 * count} deliveries")
    client.disconnect()
    client.loop_stop()


def wait(event, what):
    if not event.wait(DEADLINE):
        sys.exit(f"paho qos: no {what} within {DEADLINE} s")


if __name__ == "__main__":
    main()
