"""Cluster benchmark: single-broker acks=1 vs 3-broker RF=3 acks=all min.insync.replicas=2
throughput with the same librdkafka producer (bench/loadgen), and failover time after a
`kill -9` of a partition leader. Run through bench/cluster.sh; prints a table, never fails on
a timing.

Failover trial: a confluent-kafka (librdkafka) producer, and Sluice's own Rust producer
(`sluice-loadgen probe-sluice`), in turn: acks=all, idempotent, each sends one
record every PROBE_MS to partition 0 of an RF=3 topic; the leader of partition 0 is killed
with SIGKILL; failover time = first delivery report for a record that was acknowledged after
the kill (an offset beyond every offset acknowledged before it) minus the kill instant. The
killed node is restarted and the ISR heals before the next trial.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "compat"))

from broker import Broker, wait_for  # noqa: E402
from cluster import Cluster  # noqa: E402

LOADGEN = Path(os.environ.get("LOADGEN", ROOT / "bench" / "target" / "release" / "sluice-loadgen"))
RECORDS = int(os.environ.get("RECORDS", "1000000"))
RECORD_SIZE = int(os.environ.get("RECORD_SIZE", "100"))
PARTITIONS = int(os.environ.get("PARTITIONS", "3"))
TRIALS = int(os.environ.get("TRIALS", "5"))
DEFAULT_TRIALS = int(os.environ.get("DEFAULT_TRIALS", "1"))
PROBE_MS = int(os.environ.get("PROBE_MS", "5"))
# Failover probes: librdkafka (confluent-kafka) and Sluice's Rust producer, alternating per trial.
CLIENTS = tuple(os.environ.get("FAILOVER_CLIENTS", "librdkafka,sluice").split(","))
# Failure detection for the tuned failover trials (Kafka defaults: 2000 / 9000 / 30000).
FAST = {
    "broker.heartbeat.interval.ms": os.environ.get("HEARTBEAT_MS", "250"),
    "broker.session.timeout.ms": os.environ.get("SESSION_MS", "1000"),
    # Raft: followers elect a new controller 3-4 x this after the last word from the leader.
    "controller.quorum.election.timeout.ms": os.environ.get("ELECTION_MS", "300"),
    "replica.lag.time.max.ms": "10000",
}
COMMON = {"group.initial.rebalance.delay.ms": "0"}


def loadgen_produce(bootstrap: str, topic: str, acks: str, broker_pid: int | None = None) -> dict:
    cmd = [str(LOADGEN), "produce", "--bootstrap", bootstrap, "--topic", topic, "--records", str(RECORDS), "--record-size", str(RECORD_SIZE), "--acks", acks]
    if broker_pid:
        cmd += ["--broker-pid", str(broker_pid)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RESULT produce"))
    res = dict(kv.split("=", 1) for kv in line.split()[2:])
    if int(res.get("failed", "0")) != 0:
        raise RuntimeError(f"{res['failed']} deliveries failed: {line}")
    return res


def cpu_secs(pids: list[int]) -> float:
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(f[11]) + int(f[12])) / tck
        except (FileNotFoundError, IndexError):
            pass
    return total


def single_broker() -> dict:
    b = Broker(overrides=COMMON)
    b.start()
    try:
        from helpers import admin_client, create_topic

        create_topic(admin_client(b.bootstrap), "single", partitions=PARTITIONS)
        return loadgen_produce(b.bootstrap, "single", "1", b.proc.pid)
    finally:
        b.stop()
        b.close()


def cluster_throughput() -> dict:
    with Cluster(3, overrides=COMMON, fast=False) as c:
        c.create_topic("replicated", partitions=PARTITIONS, rf=3, config={"min.insync.replicas": "2"})
        pids = [nd.pid for nd in c.nodes]
        cpu0, t0 = cpu_secs(pids), time.monotonic()
        res = loadgen_produce(c.bootstrap, "replicated", "all")
        res["cluster_cores"] = f"{(cpu_secs(pids) - cpu0) / (time.monotonic() - t0):.2f}"
        return res


PRODUCER_TIMEOUTS = {
    "request.timeout.ms": "5000",
    "retry.backoff.ms": "50",
    "retry.backoff.max.ms": "200",
    "reconnect.backoff.ms": "50",
    "reconnect.backoff.max.ms": "200",
}


class LibrdkafkaProbe:
    """confluent-kafka idempotent acks=all producer, one record every PROBE_MS."""

    def __init__(self, bootstrap: str):
        from confluent_kafka import Producer

        self.acks: list[tuple[float, float, int]] = []  # (sent, acknowledged, offset), monotonic
        self.failed: list[str] = []
        self.p = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 0,
                "message.timeout.ms": 60000,
                "topic.metadata.refresh.interval.ms": 30000,
                **{k: int(v) for k, v in PRODUCER_TIMEOUTS.items()},
            }
        )
        self.sent_at: dict[bytes, float] = {}
        self.stop_flag = threading.Event()
        self.th = threading.Thread(target=self._run, daemon=True)
        self.th.start()

    def _cb(self, err, msg):
        if err is None:
            self.acks.append((self.sent_at.get(msg.value(), 0.0), time.monotonic(), msg.offset()))
        else:
            self.failed.append(str(err))

    def _run(self):
        n = 0
        while not self.stop_flag.is_set():
            v = b"%012d" % n + b"x" * 88
            self.sent_at[v] = time.monotonic()
            n += 1
            self.p.produce("failover", value=v, partition=0, on_delivery=self._cb)
            self.p.poll(PROBE_MS / 1000)

    def stop(self) -> int:
        self.stop_flag.set()
        self.th.join(10)
        return len(self.failed) + self.p.flush(60)


class SluiceProbe:
    """Sluice's Rust producer (sluice-client, idempotent, acks=all) in `sluice-loadgen
    probe-sluice`, one record every PROBE_MS; its ACK/ERR lines carry CLOCK_MONOTONIC instants,
    the clock of Python's time.monotonic()."""

    def __init__(self, bootstrap: str):
        self.acks: list[tuple[float, float, int]] = []
        self.failed: list[str] = []
        args = [str(LOADGEN), "probe-sluice", "--bootstrap", bootstrap, "--topic", "failover",
                "--interval-ms", str(PROBE_MS), "--duration-secs", "300",
                "-X", "delivery.timeout.ms=60000"]
        for k, v in PRODUCER_TIMEOUTS.items():
            args += ["-X", f"{k}={v}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.th = threading.Thread(target=self._read, daemon=True)
        self.th.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split()
            if parts[:1] == ["ACK"]:
                self.acks.append((float(parts[1]), float(parts[2]), int(parts[3])))
            elif parts[:1] == ["ERR"]:
                self.failed.append(line.strip())

    def stop(self) -> int:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.th.join(10)
        return len(self.failed)


def failover_trials(overrides: dict, trials: int, clients=("librdkafka",)) -> list[dict]:
    results = []
    with Cluster(3, overrides={**COMMON, **overrides}, fast=False) as c:
        c.create_topic("failover", partitions=3, rf=3, config={"min.insync.replicas": "2"})
        for trial in range(trials):
            for client in clients:
                probe = (SluiceProbe if client == "sluice" else LibrdkafkaProbe)(c.live_bootstrap())
                acks = probe.acks
                wait_for(lambda: len(acks) >= 200, 30, "200 acks before the kill")
                victim = c.leader("failover", 0)
                moved: list[float] = []

                def watch_leader():
                    # broker-side failover: a survivor's Metadata names a new leader (20 ms polls)
                    while not moved and time.monotonic() - t_kill < 30:
                        try:
                            if c.leader("failover", 0) not in (-1, victim):
                                moved.append(time.monotonic())
                                return
                        except Exception:
                            pass
                        time.sleep(0.02)

                t_kill = time.monotonic()
                c.node(victim).kill9()
                watcher = threading.Thread(target=watch_leader, daemon=True)
                watcher.start()
                # only records sent after the kill count: a response of the old leader already
                # on its way when it died is not a failover
                first = wait_for(lambda: next((a for t, a, _ in list(acks) if t > t_kill), None), 60, "an ack of a record sent after the kill")
                watcher.join(30)
                t_new_leader = moved[0] if moved else None
                failed = probe.stop()
                results.append(
                    {
                        "trial": trial + 1,
                        "client": client,
                        "victim": victim,
                        "failover_s": first - t_kill,
                        "failed": failed,
                        "metadata_s": (t_new_leader - t_kill) if t_new_leader else None,
                    }
                )
                print(f"  trial {trial + 1} ({client}): killed node {victim} (leader of failover-0): first record sent after the kill acknowledged after {first - t_kill:.3f} s; new leader in Metadata after {(t_new_leader - t_kill) if t_new_leader else float('nan'):.3f} s; failed deliveries {failed}", flush=True)
                c.node(victim).restart()
                c.wait_registered(60)
                c.wait_isr("failover", 3, 3, 60)
    return results


def main() -> None:
    if not LOADGEN.exists():
        sys.exit(f"no loadgen at {LOADGEN}: build it with bench/cluster.sh (or bench/run.sh)")
    print(f"== single broker, {PARTITIONS} partitions, acks=1: {RECORDS} x {RECORD_SIZE} B", flush=True)
    single = single_broker()
    print(f"   {single['rec_per_s']} rec/s, {single['mb_per_s']} MB/s", flush=True)
    print(f"== 3 brokers, RF=3, min.insync.replicas=2, acks=all: {RECORDS} x {RECORD_SIZE} B", flush=True)
    repl = cluster_throughput()
    print(f"   {repl['rec_per_s']} rec/s, {repl['mb_per_s']} MB/s", flush=True)
    print(f"== failover, tuned timeouts {FAST}: {TRIALS} trials", flush=True)
    tuned = failover_trials(FAST, TRIALS, CLIENTS)
    defaults = []
    if DEFAULT_TRIALS > 0:
        print(f"== failover, Kafka default timeouts (heartbeat 2000, session 9000): {DEFAULT_TRIALS} trial(s)", flush=True)
        defaults = failover_trials({}, DEFAULT_TRIALS)

    ratio = float(repl["rec_per_s"]) / float(single["rec_per_s"])
    fo = [r["failover_s"] for r in tuned if r["client"] == "librdkafka"] or [float("nan")]
    fo_sluice = [r["failover_s"] for r in tuned if r["client"] == "sluice"] or [float("nan")]
    print()
    print(f"Sluice cluster benchmark — {time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, {os.cpu_count()} cores, load avg {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print("(all 3 brokers and the client share this machine's cores; numbers are indicative)")
    row = "{:<52} {:>14} {:>10}   {}".format
    print(row("benchmark", "measured", "target", "notes"))
    print(row("-" * 52, "-" * 14, "-" * 10, "-----"))
    print(row(f"1 broker acks=1, {RECORD_SIZE} B (rec/s)", single["rec_per_s"], "", f"{single['mb_per_s']} MB/s; broker cores {single.get('broker_cores', '?')}, loadgen {single.get('loadgen_cores', '?')}"))
    print(row(f"3 brokers RF=3 acks=all min.isr=2, {RECORD_SIZE} B (rec/s)", repl["rec_per_s"], "", f"{repl['mb_per_s']} MB/s; 3 brokers' cores {repl['cluster_cores']}, loadgen {repl.get('loadgen_cores', '?')}"))
    print(row("ratio replicated / single", f"{ratio * 100:.0f}%", ">= 50%", ""))
    ms = [r["metadata_s"] for r in tuned if r["metadata_s"] is not None]
    if ms:
        print(row(f"failover (broker): kill -> new leader in Metadata (s, median)", f"{statistics.median(ms):.2f}", "< 2", f"min {min(ms):.2f} max {max(ms):.2f}; session {FAST['broker.session.timeout.ms']} ms, heartbeat {FAST['broker.heartbeat.interval.ms']} ms, election {FAST['controller.quorum.election.timeout.ms']} ms"))
    print(row(f"failover (librdkafka): kill -> next ack (s, median)", f"{statistics.median(fo):.2f}", "< 2", f"min {min(fo):.2f} max {max(fo):.2f} over {len(fo)} trials (includes the client's 1 s metadata re-scan)"))
    print(row(f"failover (sluice-client): kill -> next ack (s, median)", f"{statistics.median(fo_sluice):.2f}", "< 2", f"min {min(fo_sluice):.2f} max {max(fo_sluice):.2f} over {len(fo_sluice)} trials"))
    if defaults:
        d = [r["failover_s"] for r in defaults]
        print(row("failover, Kafka defaults, session 9000 ms (s)", f"{statistics.median(d):.2f}", "", f"{len(d)} trial(s); heartbeat 2000 ms"))
    bad = sum(r["failed"] for r in tuned + defaults)
    print(f"failed deliveries during failover trials: {bad}")
    print(f"RESULT cluster single_rec_per_s={single['rec_per_s']} replicated_rec_per_s={repl['rec_per_s']} ratio={ratio:.3f} failover_median_s={statistics.median(fo):.3f} failover_max_s={max(fo):.3f} sluice_failover_median_s={statistics.median(fo_sluice):.3f} sluice_failover_max_s={max(fo_sluice):.3f} leader_moved_median_s={statistics.median(ms) if ms else float('nan'):.3f}")


if __name__ == "__main__":
    main()
