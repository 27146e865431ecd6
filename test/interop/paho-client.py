"""A scripted Eclipse Paho client (paho-mqtt 1.6.1, /usr/bin/python3) for the interop tests.

Usage: paho-client.py '<json>' where the JSON object holds
  host, port, version ("mqttv31" | "mqttv311"), client_id, timeout_seconds,
  subscribe: [{topic, qos}], publish: [{topic, qos, payload}], will: {topic, qos, payload},
  expect: messages to receive before disconnecting, hold: stay connected until killed.

It prints one JSON object per line, "event" first, as things happen:
  {"event": "connack", "rc": 0, "session_present": 0}
  {"event": "suback", "granted": [1, 0]}
  {"event": "puback", "mid": 2}            (QoS 1: after the PUBACK; QoS 0: once written)
  {"event": "message", "topic": ..., "payload": ..., "qos": 1, "retain": false, "dup": false}
  {"event": "ready"}                       (subscribed and published everything)
  {"event": "done"}                        (then a clean DISCONNECT and exit 0)
  {"event": "error", "message": ...}       (then exit 1, e.g. CONNACK refused or timeout)

Order of work: CONNECT, SUBSCRIBE (all filters in one packet), then the publishes, then wait
for `expect` messages, then DISCONNECT. With `hold`, it never disconnects: the test kills it.
"""
import json
import os
import sys
import threading

import paho.mqtt.client as mqtt

VERSIONS = {"mqttv31": mqtt.MQTTv31, "mqttv311": mqtt.MQTTv311}


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def fail(message):
    emit("error", message=message)
    os._exit(1)  # from paho's network thread too, where sys.exit would end only that thread


def main():
    config = json.loads(sys.argv[1])
    subscribe = config.get("subscribe") or []
    publish = config.get("publish") or []
    expected = int(config.get("expect") or 0)
    hold = bool(config.get("hold"))

    client = mqtt.Client(client_id=config["client_id"], clean_session=True, protocol=VERSIONS[config["version"]])
    will = config.get("will")
    if will:
        client.will_set(will["topic"], will["payload"], qos=will["qos"], retain=False)

    received = []
    issued = set()  # mids of our publishes
    acked = set()  # mids whose PUBACK came (QoS 1) or that were written (QoS 0)
    state = {"published": False}
    # Re-entrant: paho may call on_publish from inside client.publish() on the same thread.
    lock = threading.RLock()
    finished = threading.Event()

    def maybe_finish():
        if not hold and state["published"] and issued <= acked and len(received) >= expected:
            finished.set()

    def after_subscribe():
        with lock:
            for message in publish:
                info = client.publish(message["topic"], message["payload"], qos=message["qos"])
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    fail(f"publish to {message['topic']} failed: rc {info.rc}")
                issued.add(info.mid)
            state["published"] = True
            emit("ready")
            maybe_finish()

    def on_connect(client, userdata, flags, rc):
        emit("connack", rc=rc, session_present=flags.get("session present", 0))
        if rc != 0:
            fail(f"CONNACK return code {rc}")
        if subscribe:
            client.subscribe([(s["topic"], s["qos"]) for s in subscribe])
        else:
            after_subscribe()

    def on_subscribe(client, userdata, mid, granted_qos):
        emit("suback", granted=list(granted_qos))
        after_subscribe()

    def on_publish(client, userdata, mid):
        emit("puback", mid=mid)
        with lock:
            acked.add(mid)
            maybe_finish()

    def on_message(client, userdata, message):
        emit(
            "message",
            topic=message.topic,
            payload=message.payload.decode("utf-8", "replace"),
            qos=message.qos,
            retain=bool(message.retain),
            dup=bool(message.dup),
        )
        with lock:
            received.append(message)
            maybe_finish()

    def on_disconnect(client, userdata, rc):
        if rc != 0 and not finished.is_set():
            fail(f"connection lost (rc {rc})")

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_publish = on_publish
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    client.connect(config["host"], int(config["port"]), keepalive=30)
    client.loop_start()
    timeout = float(config.get("timeout_seconds") or 15)
    if hold:
        threading.Event().wait(timeout)  # the test kills us long before
        fail(f"still held after {timeout} s: the test should have killed this client")
    if not finished.wait(timeout):
        fail(f"timed out after {timeout} s: received {len(received)} of {expected} messages, {len(issued - acked)} PUBACK(s) missing")
    emit("done")
    client.disconnect()
    client.loop_stop()


if __name__ == "__main__":
    main()
