"""The benchmarks must not rot: the quick pass runs in the suite (its timings are not judged)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(300)  # as long as the pass itself may take (below): 15 benchmarks on a shared machine
def test_quick_benchmarks_run_and_write_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["crashed"] == []
    names = {r["benchmark"] for r in report["rows"]}
    assert names == {"noop_throughput", "latency", "sleep_makespan", "cpu_makespan", "memory",
                     "decision_rate", "scheduling_quality", "sampler_cost", "gpu_and_scaling",
                     "orchestration_overhead", "sim_rate", "analysis_cost", "replay_fidelity", "llm_swarm_fidelity",
                     "acquire_overhead", "dask_overhead", "soak", "long_run_memory", "workflow_quality", "learned_gap",
                     "follow_rate", "stop_latency"}
    for row in report["rows"]:
        if "none found by NVML" in row["case"]:
            continue  # no GPU on this machine: the row says so
        assert row["swarmlab"] is not None, row
        if "spilled" in row["case"] and "memory retained" in row["case"]:
            continue  # flat memory: growth near 0, of either sign, is what a spilled run shows
        # counts of 0 are the soak's figures
        assert row["swarmlab"] > 0 or row["target"] == "0", row
    assert "| case | swarmlab | baseline | ratio | target | met |" in proc.stdout
