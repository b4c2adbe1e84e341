"""A device written the normal way with paho-mqtt, for the device tests of the client matrix.

Connects (keep alive 10 s; a persistent session unless DT_CLEAN=1; in 5.0 a Session Expiry
Interval of 300 s and a Topic Alias Maximum of 5), subscribes to DT_FILTER at QoS 2 on every
CONNACK, prints every message it receives (answering a 5.0 request on its Response Topic with
its Correlation Data), and publishes a retained 200-byte QoS 1 message to
DT_TOPIC every second. paho-mqtt reconnects on its own after 1-2 s whenever the connection
ends. Runs until it is killed.

Environment: DT_HOST, DT_PORT, DT_PROTOCOL (3.1.1 | 5), DT_CLIENT_ID, DT_FILTER, DT_TOPIC,
DT_CLEAN (0 | 1), DT_AUTH (1: name the cloud's enhanced-authentication method).
"""

import os
import sys
import time

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    mqtt.CallbackAPIVersion
except (ImportError, AttributeError):
    sys.exit("paho device: paho-mqtt 2 is not installed (pip install 'paho-mqtt>=2,<3')")

KEEP_ALIVE = 10
PAYLOAD = b"r" * 200


def env(name):
    value = os.environ.get(name)
    if value is None:
        sys.exit(f"paho device: {name} is not set")
    return value


def main():
    v5 = env("DT_PROTOCOL") == "5"
    clean = env("DT_CLEAN") == "1"
    filter_ = env("DT_FILTER")
    topic = env("DT_TOPIC")
    if v5:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=env("DT_CLIENT_ID"), protocol=mqtt.MQTTv5
        )
        properties = Properties(PacketTypes.CONNECT)
        if not clean:
            properties.SessionExpiryInterval = 300
        properties.TopicAliasMaximum = 5
        if os.environ.get("DT_AUTH") == "1":
            # Enhanced authentication with the cloud's method (paho-mqtt has no AUTH
            # handling of its own to answer the challenge with).
            properties.AuthenticationMethod = "mqtt-conform-echo"
        connect = lambda: client.connect(
            env("DT_HOST"), int(env("DT_PORT")), keepalive=KEEP_ALIVE, clean_start=clean,
            properties=properties,
        )
    else:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=env("DT_CLIENT_ID"),
            protocol=mqtt.MQTTv311, clean_session=clean,
        )
        connect = lambda: client.connect(env("DT_HOST"), int(env("DT_PORT")), keepalive=KEEP_ALIVE)

    def on_connect(c, _u, _f, reason_code, _p):
        if not reason_code.is_failure:
            c.subscribe(filter_, qos=2)

    def on_message(c, _u, message):
        print(f"{message.topic} {message.payload.decode(errors='replace')}", flush=True)
        # A request (5.0): answered on its Response Topic with its Correlation Data.
        properties = getattr(message, "properties", None)
        response_topic = getattr(properties, "ResponseTopic", None)
        if response_topic:
            reply = Properties(PacketTypes.PUBLISH)
            correlation = getattr(properties, "CorrelationData", None)
            if correlation is not None:
                reply.CorrelationData = correlation
            c.publish(response_topic, b"response", qos=0, properties=reply)

    client.on_connect = on_connect
    client.on_message = on_message
    client.reconnect_delay_set(min_delay=1, max_delay=2)
    connect()
    client.loop_start()
    while True:
        time.sleep(1)
        client.publish(topic, PAYLOAD, qos=1, retain=True)


if __name__ == "__main__":
    main()
