"""The bench's cost breakdown: process CPU from /proc, FerretDB's counters and profile summary."""

from __future__ import annotations

import os
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from bench.costs import CpuMeter, FerretDbProbe, cpu_seconds, group_of, group_profile_top

TOP = """File: ferretdb
Type: cpu
Duration: 8s, Total samples = 5.30s (66.25%)
Showing nodes accounting for 5.30s, 100% of 5.30s total
      flat  flat%   sum%        cum   cum%
     1.50s 28.30% 28.30%      1.50s 28.30%  internal/runtime/syscall.Syscall6
     1.20s 22.64% 50.94%      2.40s 45.28%  modernc.org/sqlite/lib.Xsqlite3VdbeExec
      2.10s 39.62% 90.57%      2.10s 39.62%  runtime.mallocgc
     450ms  8.49% 99.06%      450ms  8.49%  github.com/FerretDB/FerretDB/internal/types.(*Document).Set
      50ms  0.94%   100%       50ms  0.94%  main.main
"""

METRICS = """# HELP ferretdb_client_requests_total Total number of requests.
# TYPE ferretdb_client_requests_total counter
ferretdb_client_requests_total{command="insert",opcode="OP_MSG"} 12
ferretdb_client_requests_total{command="update",opcode="OP_MSG"} 30
ferretdb_client_requests_total{command="find",opcode="OP_MSG"} 5
ferretdb_client_requests_total{command="find",opcode="OP_QUERY"} 1
# HELP ferretdb_client_accepts_total Total number of accepted client connections.
# TYPE ferretdb_client_accepts_total counter
ferretdb_client_accepts_total{error="0"} 3
"""


def test_cpu_seconds_grow_with_work_and_a_gone_process_has_none():
    meter = CpuMeter({"me": os.getpid(), "gone": 2**22 + 1})
    meter.start()
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    used = meter.stop()
    assert set(used) == {"me"} and 0.1 <= used["me"] <= 5.0
    assert cpu_seconds(2**22 + 1) is None


def test_profile_lines_are_grouped_by_what_the_function_belongs_to():
    groups = group_profile_top(TOP)
    assert groups == {
        "system calls (I/O)": 1.5,
        "SQLite engine": 1.2,
        "Go allocation": 2.1,
        "BSON/JSON encoding": 0.45,
        "other": 0.05,
    }
    assert group_of("runtime.gcBgMarkWorker") == "Go GC"
    assert group_of("runtime.findRunnable") == "Go runtime (scheduler, GC, syscalls)"


def test_command_counts_sum_opcodes_per_command_from_the_metrics_page():
    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = METRICS.encode() if self.path == "/debug/metrics" else b""
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        probe = FerretDbProbe(f"http://127.0.0.1:{server.server_port}", Path("/nonexistent"))
        assert probe.command_counts() == {"insert": 12, "update": 30, "find": 6}
    finally:
        server.shutdown()
