"""bench/bench_training_throughput.py runs (its imports broke unnoticed once) and its --train-only table compares
the whole network's step with the partial one."""
from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_training_throughput.py"


def test_the_partial_training_table_measures_both_steps(capsys) -> None:
    import torch

    threads = torch.get_num_threads()  # the bench sets torch's threads for the process: keep the suite's
    spec = importlib.util.spec_from_file_location("bench_training_throughput", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--models", "lung_unet", "--size", "32", "--batch", "1", "--steps", "1", "--threads", str(threads),
                       "--train-only", "up4", "outc"]) == 0
    assert torch.get_num_threads() == threads
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("lung_unet")]
    assert len(row) == 1 and row[0].split()[1] == "32x32" and row[0].endswith("x")
