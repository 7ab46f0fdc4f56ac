"""Sluice's Rust consumer (`sluice_client::consumer`) next to librdkafka: a sluice-client
consumer (the `consumer_demo` example) and a confluent-kafka consumer share one group — for
the classic protocol with `range` and with `cooperative-sticky`, and for the KIP-848
protocol (`group.protocol=consumer`, server-side assignment) — and every record is consumed
exactly once across the two; records produced by confluent-kafka with every codec are read
back byte for byte (keys, values, headers, timestamps) by the `consumer_dump` example.

The example binaries are built on first use (`cargo build --release -p sluice-client
--examples`, bounded); SLUICE_EXAMPLES_DIR points at prebuilt ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from helpers import admin_client, create_topic, make_records, poll_ok, produce, records, unique

ROOT = Path(__file__).resolve().parent.parent
GROUP_OVERRIDES = {"group.initial.rebalance.delay.ms": "200", "group.consumer.heartbeat.interval.ms": "500"}
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


@pytest.fixture(scope="module")
def examples() -> Path:
    d = os.environ.get("SLUICE_EXAMPLES_DIR")
    if d:
        return Path(d)
    subprocess.run(
        ["cargo", "build", "--release", "-q", "-p", "sluice-client", "--example", "consumer_demo", "--example", "consumer_dump"],
        cwd=ROOT,
        check=True,
        timeout=900,
    )
    return ROOT / "target" / "release" / "examples"


class RustConsumer:
    """`consumer_demo` in a group; collects (partition, offset, value) from its output."""

    def __init__(self, exe: Path, bootstrap: str, topic: str, group: str, props: dict[str, str]):
        cmd = [str(exe), bootstrap, "--topic", topic, "--group", group, "--max-seconds", "120"]
        for k, v in props.items():
            cmd += ["--property", f"{k}={v}"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.got: list[tuple[int, int, str]] = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            # "<topic>-<partition>/<offset> key=<k> value=<v>"
            where, _, rest = line.rstrip("\n").partition(" key=")
            tp, _, off = where.rpartition("/")
            part = tp.rpartition("-")[2]
            value = rest.partition(" value=")[2]
            with self.lock:
                self.got.append((int(part), int(off), value))

    def records(self) -> list[tuple[int, int, str]]:
        with self.lock:
            return list(self.got)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Ctrl-C: close() commits and leaves
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the Rust consumer did not exit within 30 s of Ctrl-C")
        self.reader.join(timeout=5)
        err = self.proc.stderr.read()
        assert self.proc.returncode == 0, f"consumer_demo exited {self.proc.returncode}: {err}"
        return err


@pytest.mark.parametrize("fresh_broker", [GROUP_OVERRIDES], indirect=True, ids=["short-delay"])
@pytest.mark.parametrize("strategy", ["range", "cooperative-sticky", "consumer"])
def test_rust_and_librdkafka_consumers_share_a_group(fresh_broker, examples, strategy):
    b = fresh_broker.start()
    topic, group = unique("mixed"), unique("gmix")
    create_topic(admin_client(b.bootstrap), topic, partitions=6)
    if strategy == "consumer":
        # KIP-848: the broker assigns; librdkafka refuses the classic session settings.
        props = {"group.protocol": "consumer", "auto.commit.interval.ms": "500"}
        conf = {"group.protocol": "consumer"}
    else:
        props = {
            "partition.assignment.strategy": strategy,
            "heartbeat.interval.ms": "300",
            "session.timeout.ms": "10000",
            "auto.commit.interval.ms": "500",
        }
        conf = {"partition.assignment.strategy": strategy, "heartbeat.interval.ms": 300, "session.timeout.ms": 10000}
    rust = RustConsumer(examples / "consumer_demo", b.bootstrap, topic, group, props)
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest", **conf})
    got_c: list[tuple[int, int, str]] = []
    try:
        c.subscribe([topic])
        # A settled group of two: librdkafka holds 3 of the 6 partitions for a while.
        deadline = time.monotonic() + 60
        stable_since = None
        while True:
            assert poll_ok(c, 0.2) is None, "nothing was produced yet"
            n = len(c.assignment())
            if n == 3:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since > 1.5:
                    break
            else:
                stable_since = None
            assert rust.proc.poll() is None, f"consumer_demo exited: {rust.proc.stderr.read()}"
            assert time.monotonic() < deadline, f"the group never split 3/3 (librdkafka holds {n})"
        sent = {}
        for p in range(6):
            recs = records(50, f"p{p}")
            produce(b.bootstrap, topic, recs, partition=p)
            sent.update({(p, i): r.value.decode() for i, r in enumerate(recs)})
        deadline = time.monotonic() + 60
        while len(got_c) + len(rust.records()) < len(sent):
            m = poll_ok(c, 0.2)
            if m is not None:
                got_c.append((m.partition(), m.offset(), m.value().decode()))
            assert time.monotonic() < deadline, f"consumed {len(got_c)} + {len(rust.records())} of {len(sent)}"
        # A duplicate would arrive now, if there was one.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            m = poll_ok(c, 0.1)
            if m is not None:
                got_c.append((m.partition(), m.offset(), m.value().decode()))
    finally:
        c.close()
        rust.stop()
    got_r = rust.records()
    assert got_r, "the Rust consumer got no partitions"
    assert got_c, "librdkafka got no partitions"
    all_got = sorted(got_c + got_r)
    assert len(all_got) == len(sent), f"{len(all_got)} records consumed for {len(sent)} sent (duplicates or losses)"
    assert {(p, o): v for p, o, v in all_got} == sent
    # Each partition was read by exactly one member.
    parts_r = {p for p, _, _ in got_r}
    parts_c = {p for p, _, _ in got_c}
    assert not parts_r & parts_c, f"partitions read by both: {parts_r & parts_c}"


@pytest.mark.parametrize("codec", CODECS)
def test_records_of_every_codec_read_identically(broker, examples, codec):
    topic = unique(f"rcodec-{codec}")
    create_topic(admin_client(broker.bootstrap), topic, partitions=1)
    sent = make_records(300, seed=hash(codec) & 0xFFFF)
    produce(broker.bootstrap, topic, sent, partition=0, conf={"compression.type": codec, "linger.ms": 20})
    out = subprocess.run(
        [str(examples / "consumer_dump"), broker.bootstrap, "--topic", topic, "--expect", str(len(sent)), "--max-seconds", "60"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stderr
    got = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(got) == len(sent), f"read {len(got)} of {len(sent)}"
    unhex = lambda h: None if h is None else bytes.fromhex(h)  # noqa: E731
    for i, (g, s) in enumerate(zip(got, sent)):
        assert (g["p"], g["o"]) == (0, i), f"record {i}: at {g['p']}/{g['o']}"
        assert unhex(g["k"]) == s.key, f"record {i}: key"
        assert unhex(g["v"]) == s.value, f"record {i}: value"
        assert tuple((k, unhex(v)) for k, v in g["h"]) == s.headers, f"record {i}: headers"
        assert g["ts"] == s.timestamp and not g["log_append"], f"record {i}: timestamp"
