"""kcat (Debian's kcat 1.7.1, librdkafka 2.0.2) against the broker: metadata, and a round
trip of 10,000 keyed records with headers for every compression codec, compared byte for
byte with what was sent, in order and at contiguous offsets."""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess

import pytest

from helpers import create_topic, unique

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat is not installed (scripts/test.sh installs it)")

N = 10_000
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+.,;!?/ "


def kcat(*args: str, stdin=None, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = subprocess.run([KCAT, *args], stdin=stdin if stdin is not None else subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return proc


def lines_to_send(n: int, seed: int) -> list[tuple[str, str]]:
    """(key, value) pairs that survive kcat's line format: no ':' in keys, no tab/newline."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        payload = "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(1, 120)))
        out.append((f"key-{i:05d}", f"value {i} {payload} " + "repeat " * rng.randrange(0, 10)))
    return out


def test_metadata_lists_broker_and_topics(broker, admin):
    t1, t3 = unique("kcat-md-a"), unique("kcat-md-b")
    create_topic(admin, t1, partitions=1)
    create_topic(admin, t3, partitions=3)

    text = kcat("-L", "-b", broker.bootstrap, "-m", "30")
    out = text.stdout.decode()
    assert text.returncode == 0, f"kcat -L exited {text.returncode}: {text.stderr.decode()}"
    assert re.search(rf"^\s*broker {broker.node_id} at {re.escape(broker.bootstrap)}\b", out, re.M), f"broker {broker.node_id} at {broker.bootstrap} not listed:\n{out}"
    assert re.search(rf'topic "{t1}" with 1 partitions:', out), out
    assert re.search(rf'topic "{t3}" with 3 partitions:', out), out

    js = kcat("-L", "-J", "-b", broker.bootstrap, "-t", t3, "-m", "30")
    assert js.returncode == 0, js.stderr.decode()
    md = json.loads(js.stdout)
    assert [(b["id"], b["name"]) for b in md["brokers"]] == [(broker.node_id, broker.bootstrap)], md["brokers"]
    [topic] = md["topics"]
    assert topic["topic"] == t3 and "error" not in topic, topic
    parts = sorted(topic["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1, 2], parts
    for p in parts:
        assert p["leader"] == broker.node_id, p
        assert [r["id"] for r in p["replicas"]] == [broker.node_id], p
        assert [r["id"] for r in p["isrs"]] == [broker.node_id], p


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_roundtrip_10k_keyed_records_with_headers(broker, admin, tmp_path, codec):
    topic = unique(f"kcat-{codec}")
    create_topic(admin, topic, partitions=1)
    pairs = lines_to_send(N, seed=sum(codec.encode()))
    src = tmp_path / "in.txt"
    src.write_text("".join(f"{k}:{v}\n" for k, v in pairs))

    with open(src, "rb") as f:
        prod = kcat("-P", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-z", codec, "-K:", "-H", "k=v", "-H", "trace=compat-kcat", "-X", "acks=all", stdin=f)
    err = prod.stderr.decode(errors="replace")
    assert prod.returncode == 0, f"kcat -P exited {prod.returncode}: {err}"
    assert "fail" not in err.lower() and "error" not in err.lower(), f"kcat -P reported problems:\n{err}"

    cons = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-f", r"%p\t%o\t%k\t%s\t%h\n")
    assert cons.returncode == 0, f"kcat -C exited {cons.returncode}: {cons.stderr.decode(errors='replace')}"
    got = cons.stdout.decode().split("\n")
    assert got[-1] == "", "output does not end with a newline"
    got = got[:-1]
    expected = [f"0\t{i}\t{k}\t{v}\tk=v,trace=compat-kcat" for i, (k, v) in enumerate(pairs)]
    assert len(got) == len(expected), f"kcat read {len(got)} records, produced {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"record {i} differs:\n got      {g!r:.300}\n expected {e!r:.300}"


def test_autocreate_on_produce(broker):
    # auto.create.topics.enable=true: producing to a new topic creates it (num.partitions=1).
    topic = unique("kcat-auto")
    proc = subprocess.run([KCAT, "-P", "-b", broker.bootstrap, "-t", topic, "-K:", "-X", "acks=all"], input=b"a:1\nb:2\nc:3\n", capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode()
    cons = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", r"%p %o %k=%s\n")
    assert cons.returncode == 0, cons.stderr.decode()
    assert cons.stdout.decode().splitlines() == ["0 0 a=1", "0 1 b=2", "0 2 c=3"]
