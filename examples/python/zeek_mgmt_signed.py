#!/usr/bin/env python3
"""Talk to a zeek-mgmt control plane from Python, as the wire contract (3.0, section 3.6) says:
sign a request with an operator's Ed25519 key, and believe an answer or a notification only
if it verifies with a key the trust file lists.

    zeek_mgmt_signed.py --brokers 127.0.0.1:9092 --key alice.pem --trust trust get-instances
    zeek_mgmt_signed.py --brokers 127.0.0.1:9092 --key alice.pem --trust trust verify-notify \
        Management.Agent.API.notify --count 3

Needs `confluent-kafka` and `cryptography` (pip install confluent-kafka cryptography).
"""
import argparse
import base64
import json
import struct
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING, OFFSET_END
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_private_key, load_pem_public_key

DOMAIN = b"zeek-mgmt/3"


def signed_bytes(topic: str, key: bytes, value: bytes) -> bytes:
    """What a signature covers: the domain, then topic and key each after its 4-byte length."""
    topic_bytes = topic.encode()
    return DOMAIN + struct.pack(">I", len(topic_bytes)) + topic_bytes + struct.pack(">I", len(key)) + key + value


def read_trust(path: str) -> dict:
    """The trust file: `KIND NAME KEY` per line; returns raw public key bytes -> (kind, name)."""
    principals = {}
    for line in open(path):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        kind, name, text = fields
        try:  # the base64 body of a SubjectPublicKeyInfo PEM, else a PEM file's path
            key = load_der_public_key(base64.b64decode(text, validate=True))
        except ValueError:
            key = load_pem_public_key(open(text, "rb").read())
        principals[key.public_bytes_raw()] = (kind, name, key)
    return principals


def verify(record, principals: dict, kinds: set):
    """The (kind, name) of who signed `record`, if its signature verifies with a trusted key of one of `kinds`."""
    headers = dict(record.headers() or [])
    if b"signer" not in headers and "signer" not in headers:
        return None
    signer = base64.b64decode(headers.get("signer") or headers.get(b"signer"))
    signature = base64.b64decode(headers.get("signature") or headers.get(b"signature"))
    known = principals.get(signer)
    if known is None or known[0] not in kinds:
        return None
    try:
        known[2].verify(signature, signed_bytes(record.topic(), record.key() or b"", record.value()))
    except InvalidSignature:
        return None
    return known[0], known[1]


def publish_signed(producer, topic: str, envelope: dict, private_key):
    value = json.dumps(envelope, separators=(",", ":")).encode()
    key = (envelope.get("target") or envelope["sender"]).encode()
    signature = private_key.sign(signed_bytes(topic, key, value))
    public = private_key.public_key().public_bytes_raw()
    headers = [("event", envelope["event"]), ("sender", envelope["sender"]), ("content-type", "application/json"),
               ("signer", base64.b64encode(public).decode()), ("signature", base64.b64encode(signature).decode())]
    if envelope.get("target"):
        headers.append(("target", envelope["target"]))
    producer.produce(topic, value=value, key=key, headers=headers)
    producer.flush(10)


def request(args, event: str, extra_args: dict) -> int:
    private_key = load_pem_private_key(open(args.key, "rb").read(), password=None)
    principals = read_trust(args.trust)
    topic = args.topic_prefix + "Management.Controller.API"
    me = "python-example-" + uuid.uuid4().hex[:8]
    reqid = str(uuid.uuid4())
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": me, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
    consumer.poll(1.0)  # positions the consumer at the end before we publish
    producer = Producer({"bootstrap.servers": args.brokers})
    envelope = {"event": event, "args": dict(reqid=reqid, **extra_args), "sender": me, "target": args.controller,
                "ts": time.time(), "api_version": 1}
    publish_signed(producer, topic, envelope, private_key)
    deadline = time.time() + args.timeout
    try:
        while time.time() < deadline:
            record = consumer.poll(0.5)
            if record is None or record.error():
                continue
            message = json.loads(record.value())
            if message.get("target") != me or message.get("args", {}).get("reqid") != reqid:
                continue
            signer = verify(record, principals, {"controller"})
            if signer is None:
                print("ignoring an answer that no trusted controller signed", file=sys.stderr)
                continue
            print(json.dumps({"signed_by": signer[1], "event": message["event"], "args": message["args"]}))
            return 0
    finally:
        consumer.close()
    print("no signed answer within the timeout", file=sys.stderr)
    return 1


def verify_notify(args) -> int:
    principals = read_trust(args.trust)
    topic = args.topic_prefix + args.topic
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": "python-example-" + uuid.uuid4().hex[:8], "enable.auto.commit": False})
    metadata = consumer.list_topics(topic, timeout=10)
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.topics[topic].partitions])
    verified, deadline = 0, time.time() + args.timeout
    try:
        while verified < args.count and time.time() < deadline:
            record = consumer.poll(0.5)
            if record is None or record.error():
                continue
            signer = verify(record, principals, {"controller", "host"})
            event = json.loads(record.value()).get("event")
            if signer is None:
                print(json.dumps({"event": event, "verified": False}))
                continue
            verified += 1
            print(json.dumps({"event": event, "verified": True, "signed_by": signer[1], "kind": signer[0]}))
    finally:
        consumer.close()
    return 0 if verified >= args.count else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--key", help="the operator's private key (PKCS#8 PEM)")
    parser.add_argument("--trust", required=True, help="the trust file")
    parser.add_argument("--controller", default="controller")
    parser.add_argument("--topic-prefix", default="")
    parser.add_argument("--timeout", type=float, default=20)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("get-instances")
    commands.add_parser("get-nodes")
    notify = commands.add_parser("verify-notify")
    notify.add_argument("topic")
    notify.add_argument("--count", type=int, default=1)
    args = parser.parse_args()
    if args.command == "get-instances":
        return request(args, "Management::Controller::API::get_instances_request", {})
    if args.command == "get-nodes":
        return request(args, "Management::Controller::API::get_nodes_request", {})
    return verify_notify(args)


if __name__ == "__main__":
    sys.exit(main())
