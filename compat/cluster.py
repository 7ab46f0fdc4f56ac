"""Harness that runs an N-node Sluice cluster as N real `sluice server start` processes.

Each node is broker + controller (a Raft voter), with its own temp data dir and two free
127.0.0.1 ports (client and controller listener). Storage is formatted with one shared
cluster id (`sluice storage format`), then every node is started with explicit `--override`s,
so the harness owns each PID: it can `kill -9`, SIGSTOP/SIGCONT, stop and restart one node.
Every wait polls a condition until a deadline (`broker.wait_for`); nothing sleeps a fixed time.

    with Cluster(3, overrides={"broker.session.timeout.ms": "2000"}) as c:
        c.bootstrap            # "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3"
        c.leader("t", 0)       # node id of a partition's leader (from Metadata)
        c.node(2).kill9(); c.node(2).restart(); c.wait_registered()
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from broker import api_versions_ok, free_port, sluice_bin, wait_for

# Fast failure detection for tests (Kafka's defaults are 2000 / 9000 / 30000 / 1000): a
# silent broker is fenced after 2 s, a stuck follower leaves the ISR after 4 s.
FAST_TIMEOUTS = {
    "broker.heartbeat.interval.ms": "300",
    "broker.session.timeout.ms": "2000",
    "replica.lag.time.max.ms": "4000",
    "replica.fetch.backoff.ms": "200",
    "group.initial.rebalance.delay.ms": "0",
}


class Node:
    """One node of a `Cluster`: a `sluice server start` process with a fixed id, ports and dir."""

    def __init__(self, cluster: "Cluster", node_id: int, root: Path, port: int, controller_port: int):
        self.cluster = cluster
        self.node_id = node_id
        self.root = root
        self.data = root / "data"
        self.port = port
        self.controller_port = controller_port
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen | None = None
        self.stopped = False  # SIGSTOPped
        self.starts = 0
        self.out_path = root / "node.out"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def properties(self) -> dict[str, str]:
        c = self.cluster
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.quorum.voters": c.voters,
            "log.dirs": str(self.data),
            "offsets.topic.replication.factor": str(min(3, c.n)),
            "default.replication.factor": str(min(3, c.n)),
            "min.insync.replicas": "2" if c.n >= 3 else "1",
        }
        props.update(c.overrides)
        return props

    def command(self) -> list[str]:
        cmd = [str(sluice_bin()), "server", "start"]
        for k, v in self.properties().items():
            cmd += ["--override", f"{k}={v}"]
        return cmd

    def format(self, cluster_id: str) -> None:
        """`sluice storage format` with the shared cluster id (skips a formatted dir)."""
        self.data.mkdir(parents=True, exist_ok=True)
        props = self.root / "server.properties"
        props.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        subprocess.run(
            [str(sluice_bin()), "storage", "format", "-c", str(props), "-t", cluster_id, "-g"],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def spawn(self) -> None:
        assert self.proc is None, f"node {self.node_id} already running"
        self.starts += 1
        with open(self.out_path, "ab") as out:
            out.write(f"\n===== start #{self.starts}: {' '.join(self.command())}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "RUST_BACKTRACE": "1"},
                start_new_session=True,
            )
        self.stopped = False

    def ready(self) -> bool:
        """Serving clients, i.e. registered and unfenced (client listeners open only then)."""
        if self.proc is None:
            return False
        if self.proc.poll() is not None:
            raise RuntimeError(f"node {self.node_id} exited with {self.proc.returncode}:\n{self.output_tail()}")
        return api_versions_ok(self.host, self.port, timeout=1.0)

    def wait_ready(self, timeout: float = 60.0) -> "Node":
        wait_for(self.ready, timeout, f"node {self.node_id} on {self.bootstrap} to serve clients")
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """Crash the node (SIGKILL, works on a SIGSTOPped process too) and reap it."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        self.stopped = False

    def sigstop(self) -> None:
        assert self.running(), f"node {self.node_id} is not running"
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.stopped = True

    def sigcont(self) -> None:
        if self.proc is not None and self.stopped:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.stopped = False

    def stop(self, timeout: float = 30.0) -> int | None:
        """Graceful stop (SIGTERM: controlled shutdown); SIGKILL after `timeout`.
        Returns the exit code, or None when it had to be killed."""
        if self.proc is None:
            return None
        self.sigcont()
        proc, self.proc = self.proc, None
        if proc.poll() is not None:
            return proc.returncode
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
            return None

    def restart(self, timeout: float = 60.0) -> "Node":
        """Start again on the same dir and ports (after kill9() or stop())."""
        self.spawn()
        return self.wait_ready(timeout)

    def output_tail(self, lines: int = 60) -> str:
        parts = []
        for path in (self.out_path, self.root / "sluice-server.log"):
            try:
                text = path.read_text(errors="replace")
            except FileNotFoundError:
                continue
            tail = text.splitlines()[-lines:]
            parts.append(f"--- node {self.node_id}: last {len(tail)} lines of {path} ---\n" + "\n".join(tail))
        return "\n".join(parts) or f"(no output from node {self.node_id})"


class Cluster:
    """N nodes, each broker + controller, ids 1..N. `overrides` apply to every node."""

    def __init__(self, n: int = 3, overrides: dict[str, str] | None = None, fast: bool = True):
        self.n = n
        self.overrides = dict(FAST_TIMEOUTS if fast else {})
        self.overrides.update(overrides or {})
        self._tmp = tempfile.mkdtemp(prefix="sluice-cluster-")
        self.root = Path(self._tmp)
        ports = set()
        while len(ports) < 2 * n:  # distinct free ports (free_port may repeat one)
            ports.add(free_port())
        ports = sorted(ports)
        self.nodes = [Node(self, i + 1, self.root / f"node-{i + 1}", ports[2 * i], ports[2 * i + 1]) for i in range(n)]
        self.voters = ",".join(f"{nd.node_id}@127.0.0.1:{nd.controller_port}" for nd in self.nodes)
        self.cluster_id = subprocess.run([str(sluice_bin()), "storage", "random-uuid"], check=True, capture_output=True, text=True, timeout=30).stdout.strip()

    @property
    def bootstrap(self) -> str:
        return ",".join(nd.bootstrap for nd in self.nodes)

    def node(self, node_id: int) -> Node:
        return self.nodes[node_id - 1]

    def start(self, timeout: float = 90.0) -> "Cluster":
        binary = sluice_bin()
        if not binary.exists():
            raise FileNotFoundError(f"no broker binary at {binary}: run `cargo build --release -p sluice-cli`")
        for nd in self.nodes:
            nd.format(self.cluster_id)
        for nd in self.nodes:  # all at once: a node waits for a quorum before serving
            nd.spawn()
        try:
            deadline = time.monotonic() + timeout
            for nd in self.nodes:
                nd.wait_ready(max(1.0, deadline - time.monotonic()))
            self.wait_registered(max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.close()
            raise
        return self

    # ---- metadata ---------------------------------------------------------------------

    def admin(self, bootstrap: str | None = None):
        from confluent_kafka.admin import AdminClient

        return AdminClient({"bootstrap.servers": bootstrap or self.bootstrap, "socket.timeout.ms": 10000, "allow.auto.create.topics": False})

    def live_bootstrap(self) -> str:
        """Bootstrap string of the running, not stopped nodes (metadata reads must not hang on
        a SIGSTOPped node)."""
        return ",".join(nd.bootstrap for nd in self.nodes if nd.running() and not nd.stopped)

    def metadata(self, topic: str | None = None, timeout: float = 5.0):
        return self.admin(self.live_bootstrap()).list_topics(topic=topic, timeout=timeout)

    def wait_registered(self, timeout: float = 60.0, ids: set[int] | None = None) -> None:
        """Until Metadata (asked of every live node) lists exactly the brokers `ids` (default:
        every running node)."""
        want = ids if ids is not None else {nd.node_id for nd in self.nodes if nd.running() and not nd.stopped}

        def ok():
            for nd in self.nodes:
                if not (nd.running() and not nd.stopped):
                    continue
                md = self.admin(nd.bootstrap).list_topics(timeout=3)
                if set(md.brokers) != want:
                    return False
            return True

        wait_for(ok, timeout, f"Metadata on every live node to list brokers {sorted(want)}")

    def partitions(self, topic: str) -> dict:
        """partition id -> confluent PartitionMetadata (leader, replicas, isrs)."""
        md = self.metadata(topic)
        t = md.topics.get(topic)
        assert t is not None and t.error is None, f"topic {topic}: {t.error if t else 'missing'}"
        return t.partitions

    def leader(self, topic: str, partition: int) -> int:
        return self.partitions(topic)[partition].leader

    def wait_partition(self, topic: str, partition: int, cond, timeout: float, what: str):
        """Poll Metadata until cond(PartitionMetadata) holds; returns that metadata."""

        def check():
            p = self.partitions(topic).get(partition)
            return p if p is not None and cond(p) else None

        return wait_for(check, timeout, f"{topic}-{partition}: {what}")

    def wait_isr(self, topic: str, partitions: int, size: int, timeout: float = 60.0) -> None:
        """Every partition has a leader and an ISR of `size`."""

        def ok():
            ps = self.partitions(topic)
            return len(ps) == partitions and all(p.leader >= 0 and len(p.isrs) == size for p in ps.values())

        wait_for(ok, timeout, f"{topic}: {partitions} partitions with a leader and an ISR of {size}")

    def wait_converged(self, topic: str, partitions: int, isr: int, timeout: float = 60.0) -> None:
        """Until every live node answers the same Metadata for `topic` (brokers, and per
        partition leader, replicas and ISR) with a leader and an ISR of `isr` everywhere. A node
        that resumed after SIGSTOP serves its stale image until it caught up with the quorum;
        asking one node only could see that stale view."""

        def view(nd):
            md = self.admin(nd.bootstrap).list_topics(topic=topic, timeout=3)
            t = md.topics[topic]
            return (tuple(sorted(md.brokers)), tuple((i, p.leader, tuple(p.replicas), tuple(sorted(p.isrs))) for i, p in sorted(t.partitions.items())))

        def ok():
            views = {view(nd) for nd in self.nodes if nd.running() and not nd.stopped}
            if len(views) != 1:
                return False
            [(_, parts)] = views
            return len(parts) == partitions and all(leader >= 0 and len(i) == isr for _, leader, _, i in parts)

        wait_for(ok, timeout, f"every live node to agree on {topic}: {partitions} partitions with a leader and an ISR of {isr}")

    def create_topic(self, name: str, partitions: int = 3, rf: int = 3, config: dict | None = None, timeout: float = 30.0) -> None:
        from confluent_kafka.admin import NewTopic

        admin = self.admin()  # keep the client alive until the future resolves
        fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=rf, config=config or {})], operation_timeout=timeout, request_timeout=timeout)
        fs[name].result(timeout=timeout + 5)
        self.wait_isr(name, partitions, rf, timeout)

    # ---- teardown -----------------------------------------------------------------------

    def output_tails(self, lines: int = 60) -> str:
        return "\n".join(nd.output_tail(lines) for nd in self.nodes)

    def stop(self, timeout: float = 30.0) -> dict[int, int | None]:
        """SIGTERM every node at once (each resumes first if SIGSTOPped); exit codes by id."""
        with ThreadPoolExecutor(max_workers=self.n) as ex:
            codes = list(ex.map(lambda nd: nd.stop(timeout), self.nodes))
        return {nd.node_id: code for nd, code in zip(self.nodes, codes)}

    def close(self) -> None:
        for nd in self.nodes:
            if nd.proc is not None:
                nd.sigcont()
        self.stop()
        if not os.environ.get("SLUICE_KEEP_DATA"):
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
