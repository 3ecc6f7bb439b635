#!/usr/bin/env python3
"""Run the NetworkPolicy oracle (../shared/tools/netpol/netpol.py, unmodified) one case per run.

Why: netpol.py rebuilds the lab after every multi-step case (cluster.down(); cluster.up()) but
does not forget the probe processes it killed in down(), so every case after the first
multi-step case writes to a dead probe agent ("Broken pipe") whatever the SUT does. Giving it
one case per cases file keeps the oracle's own logic and truth tables and avoids that state.

usage: netpol-each.py CASES.json --difw bin/difw [--only SUBSTRING] [--max N]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.path.join(HERE, "..", "..", "shared", "tools", "netpol", "netpol.py")

ap = argparse.ArgumentParser()
ap.add_argument("cases")
ap.add_argument("--difw", required=True)
ap.add_argument("--only")
ap.add_argument("--max", type=int)
a = ap.parse_args()
data = json.load(open(a.cases))
cases = [c for c in data["cases"] if not a.only or a.only in c["name"]][: a.max]
passed = failed = 0
t0 = time.time()
for c in cases:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({**data, "cases": [c]}, f)
    # A probe process that never started is an infrastructure failure (e.g. dist/ being rebuilt
    # by a concurrent `tsc` while the CLI loads), not a verdict: run such a case again, at most
    # twice, and say so.
    for attempt in range(3):
        r = subprocess.run([sys.executable, ORACLE, f.name, "--difw", a.difw], capture_output=True, text=True, timeout=900)
        infra = "did not start" in r.stdout + r.stderr or "does not provide an export" in r.stdout + r.stderr
        if r.returncode == 0 or not infra:
            break
        print(f"   (retrying {c['name']}: probe start-up failed, attempt {attempt + 1})", flush=True)
    os.unlink(f.name)
    lines = [l for l in r.stdout.splitlines() if l.startswith(("ok ", "FAIL", "   "))]
    print("\n".join(lines) or f"FAIL {c['name']}: the oracle stopped: " + (r.stdout + r.stderr)[-600:].replace("\n", " | "), flush=True)
    if r.returncode == 0:
        passed += 1
    else:
        failed += 1
print(f"{passed} passed, {failed} failed ({time.time() - t0:.0f}s, one oracle run per case)")
sys.exit(0 if failed == 0 and passed else 1)
