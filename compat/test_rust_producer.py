"""The Rust producer (sluice-client) against real clients: librdkafka (confluent-kafka)
must put every key on the same partition as sluice-client does (murmur2 as Java's
kafka-clients, librdkafka's `murmur2_random`), and must read records produced by
sluice-client identically — keys, values, headers, timestamps — with every codec.

The producer side is the `producer_compat` example (examples/producer_compat.rs), built
here with cargo if needed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import Rec, assert_same, consume, create_topic, produce, unique

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "target" / "release" / "examples" / "producer_compat"


@pytest.fixture(scope="module")
def rust_producer() -> Path:
    if shutil.which("cargo"):
        subprocess.run(
            ["cargo", "build", "--release", "-q", "-p", "sluice-client", "--example", "producer_compat"],
            cwd=REPO,
            check=True,
            timeout=1500,
        )
    assert EXAMPLE.exists(), f"{EXAMPLE} missing: build it with `cargo build --release -p sluice-client --example producer_compat`"
    return EXAMPLE


def run_rust(binary: Path, bootstrap: str, topic: str, count: int, codec: str) -> list[tuple[int, int]]:
    """(partition, offset) per record, as sluice-client reported them."""
    out = subprocess.run(
        [str(binary), bootstrap, topic, str(count), codec],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    assert out.returncode == 0, f"producer_compat failed ({out.returncode}): {out.stderr[-2000:]}"
    rows = [tuple(int(x) for x in line.split()) for line in out.stdout.splitlines() if line.strip()]
    assert len(rows) == count, f"expected {count} delivery lines, got {len(rows)}"
    assert [r[0] for r in rows] == list(range(count)), "delivery lines out of order"
    return [(r[1], r[2]) for r in rows]


def expected(count: int, codec: str) -> list[Rec]:
    return [
        Rec(
            b"key-%d" % i,
            b"value-%d-%s" % (i, codec.encode()),
            (("i", str(i).encode()), ("nullh", None)),
            1_700_000_000_000 + i,
        )
        for i in range(count)
    ]


def test_key_partitions_match_librdkafka_murmur2_random(broker, admin, rust_producer):
    n, partitions = 10_000, 7
    ours, theirs = unique("rp-keys-rust"), unique("rp-keys-rdkafka")
    create_topic(admin, ours, partitions)
    create_topic(admin, theirs, partitions)
    rust = run_rust(rust_producer, broker.bootstrap, ours, n, "none")
    recs = expected(n, "none")
    rd = produce(broker.bootstrap, theirs, recs, partition=None, conf={"partitioner": "murmur2_random"})
    mismatched = [i for i in range(n) if rust[i][0] != rd[i][0]]
    assert not mismatched, f"{len(mismatched)} of {n} keys on a different partition; first key-{mismatched[0]}: rust {rust[mismatched[0]][0]}, librdkafka {rd[mismatched[0]][0]}"
    assert len({p for p, _ in rust}) == partitions, "10,000 keys should cover every partition"
    # Offsets per partition are contiguous from 0 in send order.
    per: dict[int, list[int]] = {}
    for p, o in rust:
        per.setdefault(p, []).append(o)
    for p, offs in per.items():
        assert offs == list(range(len(offs))), f"partition {p}: offsets {offs[:10]}..."


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_librdkafka_reads_rust_records_identically(broker, admin, rust_producer, codec):
    n = 500
    topic = unique(f"rp-{codec}")
    create_topic(admin, topic, 1)
    rust = run_rust(rust_producer, broker.bootstrap, topic, n, codec)
    assert rust == [(0, i) for i in range(n)], "reported offsets are 0..n on partition 0"
    got = consume(broker.bootstrap, topic, 0, expect=n)
    assert_same(got, expected(n, codec))
