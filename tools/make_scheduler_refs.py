"""Writes the scheduler parity fixtures in onnx/tests/data/schedulers/ with diffusers.

Each fixture case is one diffusers scheduler built from a scheduler_config.json-style dict (with
`from_config`, like a pipeline does) and run for a few steps on a tiny latent. The Rust test
`onnx/tests/scheduler_parity.rs` replays every case through `promptreel_engine::scheduler` and
compares timesteps, init_noise_sigma, scaled model inputs and every intermediate sample.

Run from the repository root (deterministic: same diffusers/torch versions give the same files):

    /opt/ptools/bin/python tools/make_scheduler_refs.py

Written with diffusers 0.42 and torch 2.x on the CPU. Files:

* ddim.json, euler.json, euler_ancestral.json, dpm_solver.json, flow_match.json, unipc.json:
  trajectories.
  A case holds `config` (the JSON dict), `kind` (a name for SchedulerKind::parse, or null to use
  `_class_name`), `karras` (override or null), `mu` (dynamic shift or null),
  `tolerance` (null for the default 1e-5; set only where diffusers' own float32 result is
  coarser), `steps`, `shape`,
  `timesteps`, `init_noise_sigma`, `initial_sample` (seeded N(0,1) noise times
  init_noise_sigma) and per step `scaled_input` (null where scaling is the identity),
  `model_output` (a seeded fake denoiser output),
  `noise` (what the scheduler drew from its generator, or null) and `sample` (after the step).
* schedules.json: timesteps and init_noise_sigma only (`runs`), for many step counts per config.
* ltx_schedules.json: LTX-Video's schedules. The LTX pipelines pass custom sigmas
  `np.linspace(1, 1/N, N)` and `mu` (the dynamic shift for the video's latent sequence length) to
  FlowMatchEulerDiscreteScheduler with LTX-Video's scheduler_config.json (exponential time shift,
  shift_terminal 0.1). `config` is that config; each case is {steps, image_seq_len, mu, sigmas
  (N + 1 values, the final 0 included), timesteps (N values)}. For N = 1 diffusers' terminal
  stretch divides 0 by 0: its sigmas and timesteps are NaN there, written as null with
  "nan": true.

    /opt/ptools/bin/python tools/make_scheduler_refs.py ltx    (writes ltx_schedules.json only)
"""

import json
import pathlib

import diffusers
import numpy as np
import torch
from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    UniPCMultistepScheduler,
)
from diffusers.schedulers import (
    scheduling_euler_ancestral_discrete,
    scheduling_flow_match_euler_discrete,
)

OUT = pathlib.Path(__file__).resolve().parent.parent / "onnx" / "tests" / "data" / "schedulers"
SHAPE = (1, 2, 4, 4)

CLASSES = {
    "ddim": DDIMScheduler,
    "euler": EulerDiscreteScheduler,
    "euler-a": EulerAncestralDiscreteScheduler,
    "dpm++2m": DPMSolverMultistepScheduler,
    "dpm++2m-karras": DPMSolverMultistepScheduler,
    "flow-euler": FlowMatchEulerDiscreteScheduler,
    "unipc": UniPCMultistepScheduler,
}
BY_CLASS_NAME = {cls.__name__: cls for cls in CLASSES.values()}

# Stable Diffusion 1.x's scheduler_config.json (a PNDM config that pipelines reuse for others).
SD15 = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.6.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
    "clip_sample": False,
}


# Wan 2.1's scheduler_config.json (T2V 1.3B / 14B Diffusers checkpoints; 14B uses shift 5).
WAN21 = {
    "_class_name": "UniPCMultistepScheduler",
    "_diffusers_version": "0.33.0.dev0",
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "beta_start": 0.0001,
    "disable_corrector": [],
    "dynamic_thresholding_ratio": 0.995,
    "final_sigmas_type": "zero",
    "flow_shift": 3.0,
    "lower_order_final": True,
    "num_train_timesteps": 1000,
    "predict_x0": True,
    "prediction_type": "flow_prediction",
    "rescale_betas_zero_snr": False,
    "sample_max_value": 1.0,
    "solver_order": 2,
    "solver_p": None,
    "solver_type": "bh2",
    "steps_offset": 0,
    "thresholding": False,
    "timestep_spacing": "linspace",
    "trained_betas": None,
    "use_beta_sigmas": False,
    "use_exponential_sigmas": False,
    "use_flow_sigmas": True,
    "use_karras_sigmas": False,
}


def wan(**extra):
    """Wan 2.1's UniPC config with extra fields."""
    return dict(WAN21, **extra)


def sd(class_name, **extra):
    """SD-like scaled_linear config for `class_name` with extra fields."""
    config = dict(SD15, _class_name=class_name)
    config.pop("skip_prk_steps")
    config.update(extra)
    return config


def plain(class_name, **extra):
    """A config with only the class name and `extra` (diffusers defaults for the rest)."""
    return dict({"_class_name": class_name}, **extra)


def calculate_shift(seq_len, base_seq_len=256, max_seq_len=4096, base_shift=0.5, max_shift=1.15):
    """The Flux pipeline's mu for a latent sequence length."""
    m = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    return seq_len * m + (base_shift - m * base_seq_len)


def case(name, config, steps=6, kind=None, karras=None, mu=None, tolerance=None):
    spec = {"name": name, "config": config, "steps": steps, "kind": kind, "karras": karras, "mu": mu}
    spec["tolerance"] = tolerance
    return spec


DDIM = "DDIMScheduler"
EULER = "EulerDiscreteScheduler"
EULER_A = "EulerAncestralDiscreteScheduler"
DPM = "DPMSolverMultistepScheduler"
FLOW = "FlowMatchEulerDiscreteScheduler"
UNIPC = "UniPCMultistepScheduler"

TRAJECTORIES = {
    "ddim": [
        case("ddim sd15 config, epsilon, leading + offset 1", SD15, kind="ddim"),
        case(
            "ddim sd2 v_prediction, leading",
            sd(DDIM, prediction_type="v_prediction", timestep_spacing="leading"),
        ),
        case(
            "ddim linear trailing zero-snr v_prediction clipped",
            plain(DDIM, timestep_spacing="trailing", rescale_betas_zero_snr=True,
                  prediction_type="v_prediction"),
        ),
        case("ddim defaults (linear, clip, alpha to one), epsilon", plain(DDIM)),
        case(
            "ddim cosine linspace sample prediction, clip range 1.5",
            plain(DDIM, beta_schedule="squaredcos_cap_v2", timestep_spacing="linspace",
                  prediction_type="sample", clip_sample_range=1.5),
            steps=5,
        ),
    ],
    "euler": [
        case("euler sd15 config, epsilon, linspace", SD15, kind="euler"),
        case("euler sd leading epsilon", sd(EULER, timestep_spacing="leading")),
        case("euler sd karras v_prediction", sd(EULER, use_karras_sigmas=True,
                                                   prediction_type="v_prediction")),
        case("euler karras by override", SD15, kind="euler", karras=True, steps=7),
        case(
            "euler linear trailing zero-snr epsilon",
            plain(EULER, timestep_spacing="trailing", rescale_betas_zero_snr=True),
        ),
        # The first step from sigma 4096 computes x + d * dt with |x| ~ 4096 and a result ~ 40:
        # one float32 ulp of the ~2000-sized terms is ~1e-5 of the result, and torch's CPU sqrt
        # (MKL, up to 1 ulp off the correctly rounded value) already moves sigma_next by an ulp.
        # The sample after step 0 is only defined to ~3e-5 here, by diffusers' own float32.
        case(
            "euler linear trailing zero-snr v_prediction",
            plain(EULER, timestep_spacing="trailing", rescale_betas_zero_snr=True,
                  prediction_type="v_prediction"),
            tolerance=3e-5,
        ),
        case(
            "euler log_linear sigma_min final",
            sd(EULER, interpolation_type="log_linear", final_sigmas_type="sigma_min"),
        ),
        case("euler exponential sigmas with sigma bounds",
             sd(EULER, use_exponential_sigmas=True, sigma_min=0.05, sigma_max=10.0)),
        case("euler continuous timesteps v_prediction",
             sd(EULER, timestep_type="continuous", prediction_type="v_prediction")),
        case("euler sample prediction", sd(EULER, prediction_type="sample"), steps=4),
    ],
    "euler_ancestral": [
        case("euler-a sd15 config, epsilon, linspace", SD15, kind="euler-a"),
        case("euler-a sd leading v_prediction",
             sd(EULER_A, timestep_spacing="leading", prediction_type="v_prediction")),
        case("euler-a linear trailing", plain(EULER_A, timestep_spacing="trailing"), steps=5),
    ],
    "dpm_solver": [
        case("dpm++2m sd15 config, epsilon", SD15, kind="dpm++2m"),
        case("dpm++2m-karras sd15 config, epsilon", SD15, kind="dpm++2m-karras", karras=True),
        case(
            "dpm++2m karras v_prediction sigma_min final, 20 steps",
            sd(DPM, use_karras_sigmas=True, prediction_type="v_prediction",
               final_sigmas_type="sigma_min"),
            steps=20,
        ),
        case("dpm++2m leading + offset v_prediction",
             sd(DPM, timestep_spacing="leading", prediction_type="v_prediction")),
        case("dpm++2m trailing heun", sd(DPM, timestep_spacing="trailing", solver_type="heun"),
             steps=8),
        case("dpm++3m linspace", sd(DPM, solver_order=3), steps=10),
        case("dpm++2m uniform lambdas", sd(DPM, use_lu_lambdas=True), steps=8),
        case("dpm++2m exponential sigmas", sd(DPM, use_exponential_sigmas=True), steps=8),
        case(
            "dpm++2m sample prediction, euler at final, sigma_min, 16 steps",
            plain(DPM, prediction_type="sample", euler_at_final=True, lower_order_final=False,
                  final_sigmas_type="sigma_min"),
            steps=16,
        ),
        case("dpm++2m cosine lambda_min_clipped",
             plain(DPM, beta_schedule="squaredcos_cap_v2", lambda_min_clipped=-5.1), steps=10),
        case(
            "dpm++2m flow sigmas, shift 3, flow_prediction",
            plain(DPM, use_flow_sigmas=True, flow_shift=3.0, prediction_type="flow_prediction"),
            steps=8,
        ),
        case(
            "dpm++2m flow sigmas, dynamic shift",
            plain(DPM, use_flow_sigmas=True, use_dynamic_shifting=True,
                  prediction_type="flow_prediction"),
            steps=6, mu=calculate_shift(1024),
        ),
    ],
    "flow_match": [
        case("flow euler defaults", plain(FLOW)),
        case("flow euler shift 3", plain(FLOW, shift=3.0)),
        case("flow euler via kind, shift 3", plain("SomethingElse", shift=3.0), kind="flow-euler"),
        case("flow euler dynamic shift (flux-like)",
             plain(FLOW, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                   base_image_seq_len=256, max_image_seq_len=4096),
             mu=calculate_shift(1024)),
        case("flow euler dynamic linear time shift",
             plain(FLOW, use_dynamic_shifting=True, time_shift_type="linear"), mu=0.8),
        case("flow euler shift 3 terminal 0.1 karras",
             plain(FLOW, shift=3.0, shift_terminal=0.1, use_karras_sigmas=True)),
        case("flow euler exponential", plain(FLOW, shift=2.0, use_exponential_sigmas=True)),
        case("flow euler inverted sigmas", plain(FLOW, shift=3.0, invert_sigmas=True), steps=4),
        case("flow euler stochastic sampling", plain(FLOW, shift=3.0, stochastic_sampling=True)),
    ],
    # NOTE: diffusers' last step to sigma 0 is NaN for bh1 (it subtracts alpha_t * B(h) * 0 with
    # B(h) = -inf) and inf for lower_order_final=False, so those cases end on sigma_min.
    "unipc": [
        *[
            case(f"unipc wan 2.1, shift {shift:g}, {steps} steps", wan(flow_shift=shift),
                 steps=steps)
            for shift in (1.0, 3.0, 5.0)
            for steps in (4, 10, 25)
        ],
        case("unipc wan 2.1, shift 5, 50 steps", wan(flow_shift=5.0), steps=50),
        case("unipc wan 2.1, shift 3, 1 step", wan(), steps=1),
        case("unipc wan 2.1, shift 3, 2 steps", wan(), steps=2),
        case("unipc wan 2.1 via kind, shift 3, 3 steps", dict(WAN21, _class_name="Other"),
             kind="unipc", steps=3),
        case("unipc wan order 3, shift 5", wan(flow_shift=5.0, solver_order=3), steps=10),
        case("unipc wan order 1, shift 3", wan(solver_order=1), steps=6),
        case("unipc wan disable_corrector [0, 2]", wan(disable_corrector=[0, 2]), steps=6),
        case("unipc wan bh1 sigma_min final", wan(solver_type="bh1", final_sigmas_type="sigma_min"),
             steps=8),
        case("unipc wan v_prediction", wan(prediction_type="v_prediction"), steps=6),
        case("unipc flow dynamic shift", wan(use_dynamic_shifting=True), steps=8,
             mu=calculate_shift(1024)),
        case("unipc flow dynamic linear time shift",
             wan(use_dynamic_shifting=True, time_shift_type="linear"), steps=6, mu=2.5),
        case("unipc flow shift 3 terminal 0.1", wan(shift_terminal=0.1), steps=8),
        case("unipc flow karras", wan(use_karras_sigmas=True), steps=8),
        case("unipc sd15 config, epsilon, bh2", SD15, kind="unipc", steps=10),
        case("unipc sd epsilon bh1 sigma_min", sd(UNIPC, solver_type="bh1",
                                                   final_sigmas_type="sigma_min"), steps=8),
        case("unipc sd midpoint name = bh2, 20 steps", sd(UNIPC, solver_type="midpoint"),
             steps=20),
        case("unipc sd order 3 bh2", sd(UNIPC, solver_order=3), steps=12),
        # The last step (sigma 0.34 -> 0.029) is third order: D_k = (x0_k - x0_0) / r_k with
        # r_k ~ -0.2 and rho ~ (1.9, -1.6) amplify float32 ulps of the ~10-sized predictions
        # about 30 times. diffusers' own float32 sample there is 2.4e-5 away from the same
        # update run in float64, so it is only defined to ~3e-5.
        case("unipc sd order 3 bh1 sigma_min, no lower_order_final",
             sd(UNIPC, solver_order=3, solver_type="bh1", final_sigmas_type="sigma_min",
                lower_order_final=False), steps=10, tolerance=3e-5),
        case("unipc sd order 1", sd(UNIPC, solver_order=1), steps=5),
        case("unipc sd leading + offset v_prediction",
             sd(UNIPC, timestep_spacing="leading", prediction_type="v_prediction")),
        case("unipc linear trailing zero-snr v_prediction",
             plain(UNIPC, timestep_spacing="trailing", rescale_betas_zero_snr=True,
                   prediction_type="v_prediction")),
        case("unipc sd karras by override", SD15, kind="unipc", karras=True, steps=8),
        case("unipc sd exponential sigmas with bounds",
             sd(UNIPC, use_exponential_sigmas=True, sigma_min=0.05, sigma_max=10.0), steps=8),
        case("unipc sample prediction cosine", plain(UNIPC, beta_schedule="squaredcos_cap_v2",
                                                     prediction_type="sample"), steps=7),
        case("unipc defaults, 1 step", plain(UNIPC), steps=1),
    ],
}

# Configs for the timesteps-only file, run at many step counts.
SCHEDULE_CONFIGS = [
    ("ddim", SD15), ("ddim", plain(DDIM, timestep_spacing="trailing")),
    ("ddim", plain(DDIM, timestep_spacing="linspace")),
    ("euler", SD15), ("euler", sd(EULER, timestep_spacing="leading")),
    ("euler", sd(EULER, timestep_spacing="trailing")), ("euler", sd(EULER, use_karras_sigmas=True)),
    ("euler-a", sd(EULER_A, timestep_spacing="leading")),
    ("dpm++2m", SD15), ("dpm++2m", sd(DPM, timestep_spacing="leading")),
    ("dpm++2m", sd(DPM, timestep_spacing="trailing")), ("dpm++2m-karras", SD15),
    ("dpm++2m", plain(DPM, beta_schedule="squaredcos_cap_v2", lambda_min_clipped=-5.1,
                      timestep_spacing="trailing")),
    ("flow-euler", plain(FLOW, shift=3.0)), ("flow-euler", plain(FLOW)),
    # sigma_min / sigma_max are not constructor arguments of these two classes, but from_config
    # registers them and the Karras conversion reads them.
    ("dpm++2m-karras", sd(DPM, sigma_min=0.1, sigma_max=10.0)),
    ("flow-euler", plain(FLOW, shift=3.0, use_karras_sigmas=True, sigma_min=0.01, sigma_max=0.9)),
]
SCHEDULE_STEPS = [1, 2, 3, 4, 5, 7, 10, 13, 20, 25, 30, 50, 100]


def f32_list(t):
    """A tensor as a list of floats, each the shortest decimal that reads back as that float32."""
    return [float(str(np.float32(x))) for x in t.detach().to(torch.float32).flatten().tolist()]


def make(spec, config):
    """The diffusers scheduler for a case, built like a pipeline builds it."""
    if spec["kind"] is not None:
        cls = CLASSES[spec["kind"]]
    else:
        cls = BY_CLASS_NAME[config["_class_name"]]
    extra = {}
    if spec.get("karras") is not None:
        extra["use_karras_sigmas"] = spec["karras"]
    return cls.from_config(config, **extra)


class NoiseRecorder:
    """Wraps a module's `randn_tensor` and keeps what it returned."""

    def __init__(self, module):
        self.module = module
        self.original = module.randn_tensor
        self.draws = []

    def __enter__(self):
        def recording(*args, **kwargs):
            out = self.original(*args, **kwargs)
            self.draws.append(out.clone())
            return out

        self.module.randn_tensor = recording
        return self

    def __exit__(self, *exc):
        self.module.randn_tensor = self.original


def set_timesteps(scheduler, steps, mu):
    if mu is None:
        scheduler.set_timesteps(steps)
    else:
        scheduler.set_timesteps(steps, mu=mu)
    if hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(0)


def trajectory(spec, seed):
    config = spec["config"]
    scheduler = make(spec, config)
    set_timesteps(scheduler, spec["steps"], spec["mu"])
    # FlowMatchEulerDiscreteScheduler has no init_noise_sigma: its pipelines use the noise as is.
    init_sigma = float(getattr(scheduler, "init_noise_sigma", 1.0))
    latents_gen = torch.Generator().manual_seed(1000 + seed)
    model_gen = torch.Generator().manual_seed(2000 + seed)
    noise_gen = torch.Generator().manual_seed(3000 + seed)
    sample = torch.randn(SHAPE, generator=latents_gen, dtype=torch.float32) * init_sigma
    record = {
        "name": spec["name"],
        "config": config,
        "kind": spec["kind"],
        "karras": spec["karras"],
        "mu": spec["mu"],
        "tolerance": spec["tolerance"],
        "steps": spec["steps"],
        "shape": list(SHAPE),
        "timesteps": [float(t) for t in scheduler.timesteps.tolist()],
        "init_noise_sigma": float(str(np.float32(init_sigma))),
        "initial_sample": f32_list(sample),
        "trajectory": [],
    }
    # Round the stored start so Rust starts from exactly the same floats.
    sample = torch.tensor(record["initial_sample"], dtype=torch.float32).reshape(SHAPE)
    for t in scheduler.timesteps:
        before = sample.clone()
        # Flow matching has no scale_model_input: the denoiser sees the latents as they are.
        scale = getattr(scheduler, "scale_model_input", lambda x, _t: x)
        scaled = scale(sample, t)
        # A fake denoiser: seeded noise plus a bit of the input, so outputs look like predictions.
        model_output = 0.8 * torch.randn(SHAPE, generator=model_gen) + 0.2 * scaled
        model_output = torch.tensor(f32_list(model_output), dtype=torch.float32).reshape(SHAPE)
        modules = [scheduling_euler_ancestral_discrete, scheduling_flow_match_euler_discrete]
        recorders = [NoiseRecorder(m) for m in modules]
        for r in recorders:
            r.__enter__()
        try:
            if isinstance(scheduler, DDIMScheduler):
                sample = scheduler.step(model_output, t, sample, eta=0.0).prev_sample
            elif isinstance(scheduler, UniPCMultistepScheduler):
                sample = scheduler.step(model_output, t, sample).prev_sample
            else:
                sample = scheduler.step(model_output, t, sample, generator=noise_gen).prev_sample
        finally:
            for r in recorders:
                r.__exit__()
        draws = [d for r in recorders for d in r.draws]
        assert len(draws) <= 1, "one noise draw per step at most"
        record["trajectory"].append(
            {
                # null when scaling is the identity (DDIM, DPM-Solver, flow matching).
                "scaled_input": None if torch.equal(scaled, before) else f32_list(scaled),
                "model_output": f32_list(model_output),
                "noise": f32_list(draws[0]) if draws else None,
                "sample": f32_list(sample),
            }
        )
    assert len(record["timesteps"]) == spec["steps"], spec["name"]
    return record


def schedules():
    out = []
    for kind, config in SCHEDULE_CONFIGS:
        spec = {"kind": kind, "karras": True if kind.endswith("karras") else None}
        runs = []
        for steps in SCHEDULE_STEPS:
            scheduler = make(spec, config)
            scheduler.set_timesteps(steps)
            sigma = float(getattr(scheduler, "init_noise_sigma", 1.0))
            runs.append(
                {
                    "steps": steps,
                    "timesteps": [float(t) for t in scheduler.timesteps.tolist()],
                    "init_noise_sigma": float(str(np.float32(sigma))),
                }
            )
        out.append({"kind": kind, "karras": spec["karras"], "config": config, "runs": runs})
    return out


# LTX-Video's scheduler_config.json (0.9.x checkpoints).
LTX = plain(FLOW, use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
            max_image_seq_len=4096, shift_terminal=0.1, shift=1.0, num_train_timesteps=1000)
# Latent sequence lengths: the tiny fixture's 17x96x64 clip (3x2x3), the shift's two anchors, and
# real sizes (768x512 and 704x480 at 161 frames, 512x512 at 97 frames).
LTX_SEQ_LENS = [18, 1024, 4096, 8064, 6930, 3328]
LTX_STEPS = [1, 4, 20, 50]


def ltx_schedules():
    cases = []
    for seq in LTX_SEQ_LENS:
        mu = calculate_shift(seq, LTX["base_image_seq_len"], LTX["max_image_seq_len"], LTX["base_shift"],
                             LTX["max_shift"])
        for steps in LTX_STEPS:
            scheduler = FlowMatchEulerDiscreteScheduler.from_config(LTX)
            # what LTXPipeline.__call__ passes (retrieve_timesteps(..., sigmas=..., mu=mu))
            scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)
            sigmas = [float(x) for x in scheduler.sigmas.tolist()]
            timesteps = [float(x) for x in scheduler.timesteps.tolist()]
            nan = any(np.isnan(sigmas)) or any(np.isnan(timesteps))
            case = {"steps": steps, "image_seq_len": seq, "mu": mu,
                    "sigmas": [None if np.isnan(x) else x for x in sigmas],
                    "timesteps": [None if np.isnan(x) else x for x in timesteps]}
            if nan:
                case["nan"] = True
            assert len(sigmas) == steps + 1 and sigmas[-1] == 0.0
            cases.append(case)
    return cases


def write_ltx():
    doc = {
        "generator": "tools/make_scheduler_refs.py",
        "diffusers": diffusers.__version__,
        "torch": torch.__version__.split("+")[0],
        "config": LTX,
        "sigmas_in": "np.linspace(1.0, 1 / steps, steps), as LTXPipeline / LTXImageToVideoPipeline pass them",
        "mu": "calculate_shift(image_seq_len, base_image_seq_len, max_image_seq_len, base_shift, max_shift)",
        "cases": ltx_schedules(),
    }
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    (OUT / "ltx_schedules.json").write_text(text + "\n")
    print(f"ltx_schedules.json: {len(doc['cases'])} cases, {len(text) // 1024} KiB")


def write(name, cases):
    doc = {
        "generator": "tools/make_scheduler_refs.py",
        "diffusers": diffusers.__version__,
        "torch": torch.__version__.split("+")[0],
        "cases": cases,
    }
    text = json.dumps(doc, separators=(",", ":"), allow_nan=False)
    (OUT / name).write_text(text + "\n")
    print(f"{name}: {len(cases)} cases, {len(text) // 1024} KiB")


def main():
    import sys

    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    write_ltx()
    if sys.argv[1:] == ["ltx"]:
        return
    seed = 0
    for family, specs in TRAJECTORIES.items():
        cases = []
        for spec in specs:
            cases.append(trajectory(spec, seed))
            seed += 1
        write(f"{family}.json", cases)
    write("schedules.json", schedules())


if __name__ == "__main__":
    main()
