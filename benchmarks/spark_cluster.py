"""Start / stop a Spark standalone cluster on loopback, from the pyspark package itself.

    .venv/bin/python benchmarks/spark_cluster.py start --workers 2 --cores 1 --memory 1g
    .venv/bin/python benchmarks/spark_cluster.py status
    .venv/bin/python benchmarks/spark_cluster.py stop

The master listens on ``spark://127.0.0.1:7077`` (web UI off the default port, 18080);
each worker offers ``--cores`` cores and ``--memory`` to executors. Process ids and logs go
to ``$RFM_BENCH_DIR/spark_cluster`` (default ``<temp>/rfm_bench/spark_cluster``); ``stop``
ends exactly those processes. Used by ``bench_engines.py --spark-master spark://127.0.0.1:7077``.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rfm import bench_dir  # noqa: E402

HOST, PORT = "127.0.0.1", 7077


def state_dir() -> Path:
    d = bench_dir() / "spark_cluster"
    d.mkdir(parents=True, exist_ok=True)
    return d


def spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def start(workers: int, cores: int, memory: str) -> dict:
    d = state_dir()
    if (d / "pids.json").exists():
        raise SystemExit(f"a cluster seems to run already ({d / 'pids.json'}); stop it first")
    env = {**os.environ, "SPARK_LOCAL_IP": HOST, "SPARK_LOG_DIR": str(d), "SPARK_WORKER_DIR": str(d / "work")}
    procs = {}
    master = subprocess.Popen(
        [spark_class(), "org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(PORT),
         "--webui-port", "18080"],
        stdout=open(d / "master.log", "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
    procs["master"] = master.pid
    for _ in range(120):
        if _listening(PORT):
            break
        time.sleep(0.5)
    else:
        os.killpg(master.pid, signal.SIGTERM)
        raise SystemExit("the master did not start; see " + str(d / "master.log"))
    for i in range(workers):
        w = subprocess.Popen(
            [spark_class(), "org.apache.spark.deploy.worker.Worker", f"spark://{HOST}:{PORT}", "--host", HOST,
             "--cores", str(cores), "--memory", memory, "--webui-port", str(18081 + i),
             "--work-dir", str(d / f"work{i}")],
            stdout=open(d / f"worker{i}.log", "w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)
        procs[f"worker{i}"] = w.pid
    (d / "pids.json").write_text(json.dumps(procs))
    time.sleep(5)
    return procs


def stop() -> None:
    d = state_dir()
    pids_file = d / "pids.json"
    if not pids_file.exists():
        print("no cluster started from here")
        return
    for name, pid in json.loads(pids_file.read_text()).items():
        try:
            os.killpg(pid, signal.SIGTERM)  # the session spark-class started: the JVM and its shell
            print(f"stopped {name} ({pid})")
        except ProcessLookupError:
            print(f"{name} ({pid}) had already stopped")
    pids_file.unlink()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("action", choices=["start", "stop", "status"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--memory", default="1g")
    args = ap.parse_args(argv)
    if args.action == "start":
        print(json.dumps(start(args.workers, args.cores, args.memory)))
        print(f"master: spark://{HOST}:{PORT}")
    elif args.action == "stop":
        stop()
    else:
        f = state_dir() / "pids.json"
        print(f.read_text() if f.exists() else "not running", "| master port open:", _listening(PORT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
