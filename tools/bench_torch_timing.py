"""The timing and serve loop shared by the PyTorch baselines of the engine benchmark
(bench_wan_torch.py, bench_ltx_torch.py): hooks on the transformer time its forward calls, a
step-end callback times the steps, and with --serve each "run" line on stdin answers with one
JSON line (total_s, s_per_step, denoiser_run_s_per_step, ort_s = 0, peak_rss_mib)."""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Callable

import numpy as np


def serve(pipe, steps: int, generate: Callable[[Callable], None], warmup: int, serve_stdin: bool) -> int:
    """Times `generate(on_step)` (one pipeline call that passes `on_step` as its
    callback_on_step_end) `warmup` times unreported, then once, or on request with `serve_stdin`."""
    marks: list[float] = []
    spent = [0.0]

    def before(_m, _args, _kwargs):
        marks.append(time.perf_counter())

    def after(_m, _args, _kwargs, _out):
        spent[0] += time.perf_counter() - marks[-1]

    pipe.transformer.register_forward_pre_hook(before, with_kwargs=True)
    pipe.transformer.register_forward_hook(after, with_kwargs=True)
    step_ends: list[float] = []

    def on_step(_pipe, _i, _t, kwargs):
        step_ends.append(time.perf_counter())
        return kwargs

    def run() -> dict:
        marks.clear()
        step_ends.clear()
        spent[0] = 0.0
        started = time.perf_counter()
        generate(on_step)
        total = time.perf_counter() - started
        # a step runs from the previous step's end (the first: its first transformer call)
        starts = [marks[0]] + step_ends[:-1]
        per_step = float(np.mean([e - s for s, e in zip(starts, step_ends)]))
        return {"total_s": total, "s_per_step": per_step, "denoiser_run_s_per_step": spent[0] / steps,
                "ort_s": 0.0, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}

    for _ in range(warmup):
        run()
    if not serve_stdin:
        print(json.dumps(run()))
        return 0
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            print(json.dumps(run()), flush=True)
    return 0
