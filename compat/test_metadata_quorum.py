"""`sluice metadata-quorum` (kafka-metadata-quorum.sh) against real processes.

- The shared single-node broker: a quorum of one (`describe --status` block, line by line).
- `sluice cluster up --nodes 4 --controllers 3`: voters 1-3 and broker-only node 4 as an
  observer, through a broker (`--bootstrap-server`, forwarded to the active controller) and a
  controller listener (`--bootstrap-controller`); `describe --replication` rows.
- Usage errors exit 1 with Kafka's message.
"""

from __future__ import annotations

import re
import signal
import subprocess
import tempfile
import time

import pytest

from broker import free_port, sluice_bin

pytestmark = pytest.mark.timeout(180)


def quorum(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([str(sluice_bin()), "metadata-quorum", *args], capture_output=True, text=True, timeout=timeout)


def status_fields(out: str) -> dict[str, str]:
    fields = {}
    for line in out.splitlines():
        m = re.fullmatch(r"(\w+):\s+(.*)", line)
        assert m, f"unexpected line {line!r}"
        # Kafka pads the label to 24 columns.
        assert line.index(m.group(2)) == 24, line
        fields[m.group(1)] = m.group(2)
    return fields


def test_single_node_status(broker):
    r = quorum("--bootstrap-server", broker.bootstrap, "describe", "--status")
    assert r.returncode == 0, r.stderr
    f = status_fields(r.stdout)
    assert list(f) == ["ClusterId", "LeaderId", "LeaderEpoch", "HighWatermark", "MaxFollowerLag",
                       "MaxFollowerLagTimeMs", "CurrentVoters", "CurrentObservers"]
    assert f["LeaderId"] == "1" and f["CurrentVoters"] == "[1]" and f["CurrentObservers"] == "[]"
    assert int(f["LeaderEpoch"]) >= 1 and int(f["HighWatermark"]) > 0
    assert f["MaxFollowerLag"] == "0" and f["MaxFollowerLagTimeMs"] == "0"


def test_usage_errors(broker):
    r = quorum("--bootstrap-server", broker.bootstrap, "describe")
    assert r.returncode == 1 and "One of --status or --replication" in r.stderr
    r = quorum("--bootstrap-server", broker.bootstrap, "--bootstrap-controller", broker.bootstrap, "describe", "--status")
    assert r.returncode == 1 and "Only one of --bootstrap-server or --bootstrap-controller" in r.stderr


def test_cluster_with_broker_only_node():
    base = free_port()
    while base + 1004 > 65535 or base < 1024:
        base = free_port()
    with tempfile.TemporaryDirectory() as d:
        up = subprocess.Popen([str(sluice_bin()), "cluster", "up", "--nodes", "4", "--controllers", "3",
                               "--base-port", str(base), "--dir", d],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.time() + 90
            f = {}
            while time.time() < deadline:
                r = quorum("--bootstrap-server", f"127.0.0.1:{base + 3}", "describe", "--status", timeout=15)
                if r.returncode == 0:
                    f = status_fields(r.stdout)
                    if f["CurrentObservers"] == "[4]" and f["MaxFollowerLag"] == "0":
                        break
                time.sleep(0.5)
            assert f.get("CurrentVoters") == "[1,2,3]", f
            assert f.get("CurrentObservers") == "[4]", f
            leader = f["LeaderId"]
            assert leader in {"1", "2", "3"}

            r = quorum("--bootstrap-controller", f"127.0.0.1:{base + 1001}", "describe", "--replication")
            assert r.returncode == 0, r.stderr
            lines = r.stdout.splitlines()
            assert lines[0] == "NodeId\tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus\t"
            rows = [l.rstrip("\t").split("\t") for l in lines[1:]]
            assert [r[0] for r in rows][0] == leader
            assert sorted(r[0] for r in rows) == ["1", "2", "3", "4"]
            status = {r[0]: r[5] for r in rows}
            assert status[leader] == "Leader" and status["4"] == "Observer"
            assert sorted(status.values()) == ["Follower", "Follower", "Leader", "Observer"]
            for r in rows:
                assert int(r[1]) > 0 and int(r[2]) >= 0 and int(r[3]) > 0, rows
        finally:
            up.send_signal(signal.SIGTERM)
            try:
                up.wait(timeout=90)
            except subprocess.TimeoutExpired:
                up.kill()
                up.wait()
