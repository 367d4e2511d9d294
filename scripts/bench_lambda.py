#!/usr/bin/env python3
"""Cold starts and peak memory of the Lambda binaries under cargo-lambda's
runtime API emulator (`cargo lambda watch --only-lambda-apis`), for
`scripts/bench coldstart` and `scripts/bench memory`.

The emulator serves the Lambda Runtime API the binaries poll
(AWS_LAMBDA_RUNTIME_API) and the Invoke API this script calls
(POST /2015-03-31/functions/_/invocations). The binaries are the release
builds in target/release (x86_64 here: the arm64 ones cannot run on this
machine), started by this script with driftguard's environment for the
emulator (`driftguard bench-scenario setup`).

  bench_lambda.py coldstart OUT.json PORT BINDIR RUNS
  bench_lambda.py memory    OUT.json PORT BINDIR EVENTS

coldstart: for each function, RUNS times: send one invoke (the emulator holds
it until a runtime polls), start the process, and time
  process start -> the function's `initialized` log line (init: config, SDK
  config, clients, policy; the line also carries init_ms as measured inside),
  process start -> the first invoke's answer (first event handled, first AWS
  calls included),
then 5 warm invokes of the same kind of event (fresh ids), then stop it.
memory: one process per function, EVENTS invokes (the function's fixtures,
cycled, fresh ids each time), then its peak RSS (VmHWM in /proc/PID/status).
"""
import copy
import glob
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fixtures(pattern, keep=lambda e: True):
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, pattern))):
        try:
            event = json.load(open(path))
        except ValueError:
            continue
        if isinstance(event, dict) and keep(event):
            out.append((os.path.relpath(path, ROOT), event))
    return out


def eventbridge(e):
    return "detail-type" in e and "detail" in e


# The events each function handles: the first is the cold-start event.
FUNCTIONS = {
    # The cold-start event: BENCH_DETECT_EVENT, a console change to a stack's
    # security group on the emulator (`driftguard bench-scenario open --event`).
    "detect": lambda: (
        [("bench-scenario open --event (console change to a stack's group)", json.load(open(os.environ["BENCH_DETECT_EVENT"])))]
        if os.environ.get("BENCH_DETECT_EVENT")
        else fixtures("events/detect/console-sg-ingress.json")
    )
    + fixtures("events/detect/*.json", eventbridge)
    + fixtures("events/recorded/*.json", eventbridge),
    "remediate": lambda: fixtures("events/remediate/decision-revert-sg-ingress.json")
    + fixtures("events/remediate/*.json"),
    "notify": lambda: fixtures("events/notify/decision-ticket.json")
    + fixtures("events/notify/*.json"),
    "config-rule": lambda: fixtures("events/config-rule/item-change-security-group.json")
    + fixtures("events/config-rule/*.json"),
    "sweep": lambda: fixtures("events/sweep/scheduled.json"),
}


def fresh(event):
    """The same event with new delivery and event ids: not a duplicate."""
    e = copy.deepcopy(event)
    if "id" in e:
        e["id"] = str(uuid.uuid4())
    d = e.get("detail")
    if isinstance(d, dict):
        for k in ("eventID", "eventId"):
            if k in d:
                d[k] = str(uuid.uuid4())
    return e


def invoke(port, event, timeout=120):
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/2015-03-31/functions/_/invocations",
        data=json.dumps(event).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.headers.get("X-Amz-Function-Error"), r.read()
    except urllib.error.HTTPError as e:
        # The emulator answers a function error with 500 and the error's JSON.
        return f"HTTP {e.code}", e.read()


def environment(port):
    env = dict(os.environ)
    env.update(
        AWS_LAMBDA_FUNCTION_VERSION="1",
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
        AWS_LAMBDA_RUNTIME_API=f"http://127.0.0.1:{port}/.rt",
        AWS_LAMBDA_FUNCTION_NAME="_",
        RUST_LOG="info",
    )
    return env


class Function:
    """One running function process; its log lines timestamped on arrival."""

    def __init__(self, binary, port):
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [binary], env=environment(port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.initialized = None
        self.init_ms = None
        self.lines = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            now = time.perf_counter()
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if self.initialized is None and "initialized" in line:
                try:
                    self.init_ms = json.loads(line).get("init_ms")
                except ValueError:
                    pass
                self.initialized = now

    def peak_rss_kib(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return None

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def outcome(error, body):
    """`ok`, or `error: <errorType>: <the message's start>`."""
    if not error:
        return "ok"
    try:
        e = json.loads(body)
        return f"error: {e.get('errorType')}: {str(e.get('errorMessage'))[:90]}"
    except ValueError:
        return f"error: {body[:90].decode(errors='replace')}"


def coldstart(port, bindir, runs):
    results = {}
    for name, events in FUNCTIONS.items():
        events = events()
        label, first = events[0]
        rows = []
        for _ in range(runs):
            answer = {}

            def first_invoke():
                answer["result"] = invoke(port, fresh(first))
                answer["at"] = time.perf_counter()

            t = threading.Thread(target=first_invoke)
            t.start()
            time.sleep(0.05)  # the invoke is queued before the process starts
            f = Function(os.path.join(bindir, name), port)
            t.join()
            warm = []
            for _ in range(5):
                s = time.perf_counter()
                r = invoke(port, fresh(first))
                warm.append(((time.perf_counter() - s) * 1e3, outcome(*r)))
            f.stop()
            if f.initialized is None:
                sys.exit(f"{name}: no `initialized` line; output:\n" + "\n".join(f.lines[-20:]))
            rows.append(
                {
                    "to_initialized_ms": (f.initialized - f.started) * 1e3,
                    "init_ms": f.init_ms,
                    "to_first_answer_ms": (answer["at"] - f.started) * 1e3,
                    "first_outcome": outcome(*answer["result"]),
                    "warm_ms": [w for w, _ in warm],
                    "warm_outcomes": sorted({o for _, o in warm}),
                }
            )
        results[name] = {"event": label, "runs": rows}
        med = statistics.median(r["to_first_answer_ms"] for r in rows)
        print(f"[bench] coldstart {name}: first event answered {med:.1f} ms after start (median of {runs})", file=sys.stderr)
    return results


def memory(port, bindir, count):
    results = {}
    for name, events in FUNCTIONS.items():
        events = events()
        f = Function(os.path.join(bindir, name), port)
        outcomes, errors = {}, {}
        start = time.perf_counter()
        for i in range(count):
            label, event = events[i % len(events)]
            o = outcome(*invoke(port, fresh(event)))
            if o != "ok":
                errors.setdefault(o, label)
                o = "error"
            outcomes[o] = outcomes.get(o, 0) + 1
        wall = time.perf_counter() - start
        rss = f.peak_rss_kib()
        f.stop()
        results[name] = {
            "events": count,
            "fixtures": [l for l, _ in events],
            "peak_rss_kib": rss,
            "outcomes": outcomes,
            "errors": errors,
            "wall_s": wall,
        }
        print(f"[bench] memory {name}: peak RSS {rss / 1024:.1f} MiB after {count} events ({outcomes})", file=sys.stderr)
    return results


def main():
    what, out, port, bindir, n = sys.argv[1:6]
    result = (coldstart if what == "coldstart" else memory)(int(port), bindir, int(n))
    json.dump(result, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
