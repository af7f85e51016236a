"""How far one ntscale driver scales: Ray dispatch measured here, the rest calculated.

Part 1 (measured, small, 127.0.0.1 only): a private Ray on this machine, N no-op actors,
and the driver loop the Ray executor uses (submit a unit id to an actor, keep a bounded
number in flight per actor, `ray.wait` for any result, resubmit). Each call returns a
UnitResult-sized dict, as the real actors do; one variant returns 1 MiB per call instead,
to show what moving tensors through the driver would cost.

Part 2 (calculated): for 1, 8, 64 and 512 GPUs and two models, the driver's dispatch rate
(units/s), the store's write rate (bytes/s) and object (chunk) rate, and whole-genome
totals, next to the measured dispatch capacity and the object stores' documented request
rates. Writes a Markdown report to stdout (and --json for the raw figures).

    .venv/bin/python benchmarks/simulate_dispatch.py                 # ~30 s here
    .venv/bin/python benchmarks/simulate_dispatch.py --no-ray        # calculation only
    .venv/bin/python benchmarks/simulate_dispatch.py --calls 5000 --configs 2x2,16x2,16x64
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

GENOME_BP = 3_100_000_000
WINDOW_BP = 12_282
WINDOWS_PER_GENOME = math.ceil(GENOME_BP / WINDOW_BP)  # one strand, no overlap
TOKENS = 2048  # 2,047 6-mers + CLS for a v2 window
WINDOW_FIELDS_BYTES = 4 + 8 + 8 + 1 + 4 + 4 + 4 + 1  # windows/* row, uncompressed
WINDOW_FIELD_ARRAYS = 8

# name: (design-target windows/s per H100, embedding dim). Targets, not measurements.
MODELS = {"v2-500M": (200.0, 1024), "v2-50M": (1000.0, 512)}
GPUS = (1, 8, 64, 512)

S3_PUT_PER_PREFIX = 3500  # "at least" per partitioned prefix; S3 splits hot prefixes
GCS_WRITES_PER_BUCKET = 1000  # initial capacity; GCS ramps it up over minutes


@dataclass(frozen=True, kw_only=True)
class Measured:
    actors: int
    inflight_per_actor: int
    calls: int
    payload_bytes: int
    seconds: float

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), no GPU, Python {platform.python_version()}"


def measure_dispatch(
    *, configs: list[tuple[int, int]], calls: int, payload_bytes: int
) -> list[Measured]:
    """Time the executor's dispatch loop against no-op actors on a private local Ray."""
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # A private, loopback-only cluster without a dashboard: no auth token (Ray would
    # otherwise create ~/.ray/auth_token, which turns on token auth for later `ray start`s).
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import numpy as np
    import ray

    temp_dir = tempfile.mkdtemp(prefix="ntsd", dir="/tmp")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
        _temp_dir=temp_dir,
    )

    @ray.remote(num_cpus=0)
    class NoOpUnitActor:
        def __init__(self, payload: int) -> None:
            self.payload = np.zeros(payload, dtype=np.uint8) if payload else None

        def ready(self) -> bool:
            return True

        def run(self, unit: int):
            if self.payload is not None:
                return self.payload
            # The size of a real UnitResult: a few ints, floats and a small dict.
            return {"unit": unit, "n_rows": 256, "status": {"ok": 256}, "bp": 3_144_192,
                    "model_s": 1.28, "s": 1.3, "bytes": 1_310_720}  # fmt: skip

    results = []
    try:
        for n_actors, inflight in configs:
            # The tensor-return variant only for the first (smallest) configuration.
            payloads = sorted({0, payload_bytes}) if (n_actors, inflight) == configs[0] else [0]
            for payload in payloads:
                actors = [NoOpUnitActor.remote(payload) for _ in range(n_actors)]
                ray.get([a.ready.remote() for a in actors])
                # Warm up the call path before timing.
                ray.get([a.run.remote(-1) for a in actors for _ in range(4)])
                t0 = time.perf_counter()
                _dispatch_loop(ray, actors, calls, inflight)
                results.append(
                    Measured(
                        actors=n_actors,
                        inflight_per_actor=inflight,
                        calls=calls,
                        payload_bytes=payload,
                        seconds=time.perf_counter() - t0,
                    )
                )
                for a in actors:
                    ray.kill(a)
    finally:
        ray.shutdown()
    return results


def _dispatch_loop(ray, actors: list, calls: int, inflight: int) -> None:
    """Bounded in-flight dispatch, as the Ray executor does it (unit ids in, stats out)."""
    pending: dict = {}
    next_unit = 0
    for a in actors:
        for _ in range(inflight):
            if next_unit < calls:
                pending[a.run.remote(next_unit)] = a
                next_unit += 1
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            actor = pending.pop(ref)
            ray.get(ref)
            if next_unit < calls:
                pending[actor.run.remote(next_unit)] = actor
                next_unit += 1


@dataclass(frozen=True, kw_only=True)
class Row:
    model: str
    gpus: int
    unit_windows: int
    windows_per_s: float
    units_per_s: float
    pooled_mb_per_s: float
    per_token_gb_per_s: float
    objects_per_s: float
    puts_per_array_per_s: float
    genome_minutes: float
    genome_units: int
    genome_objects: int
    units_per_gpu: float
    cohort_hours: float


def calculate(*, unit_windows: int, layers: int, cls: bool, cohort: int) -> list[Row]:
    """Dispatch and write rates for each model x GPU count (pooled output, float32)."""
    kinds = layers * (2 if cls else 1)
    objects_per_unit = WINDOW_FIELD_ARRAYS + kinds + 1  # + the unit's completion mark
    rows = []
    for name, (rate, dim) in MODELS.items():
        for g in GPUS:
            wps = g * rate
            ups = wps / unit_windows
            pooled = wps * (kinds * dim * 4 + WINDOW_FIELDS_BYTES)
            per_token = wps * layers * TOKENS * dim * 2  # float16, if every layer kept
            units = math.ceil(WINDOWS_PER_GENOME / unit_windows)
            rows.append(
                Row(
                    model=name,
                    gpus=g,
                    unit_windows=unit_windows,
                    windows_per_s=wps,
                    units_per_s=ups,
                    pooled_mb_per_s=pooled / 1e6,
                    per_token_gb_per_s=per_token / 1e9,
                    objects_per_s=ups * objects_per_unit,
                    puts_per_array_per_s=ups,
                    genome_minutes=WINDOWS_PER_GENOME / wps / 60,
                    genome_units=units,
                    genome_objects=units * objects_per_unit,
                    units_per_gpu=units / g,
                    cohort_hours=cohort * WINDOWS_PER_GENOME / wps / 3600,
                )
            )
    return rows


def smallest_safe_unit(
    rate_wps: float, gpus: int, *, dispatch_cap: float, margin: float = 4.0
) -> int:
    """Smallest power-of-two unit that keeps dispatch and per-array PUTs under their caps."""
    u = 1
    while True:
        ups = gpus * rate_wps / u
        if ups * margin <= dispatch_cap and ups * margin <= S3_PUT_PER_PREFIX:
            return u
        u *= 2


def report(
    measured: list[Measured], rows: list[Row], *, layers: int, cls: bool, cohort: int
) -> str:
    out = [f"Machine: {_machine()}", ""]
    cap = None
    if measured:
        out += [
            "### Measured: Ray dispatch loop (no-op actors, bounded in flight)",
            "",
            "| actors | in flight/actor | calls | result per call | seconds | calls/s |",
            "|---:|---:|---:|---|---:|---:|",
        ]
        for m in measured:
            size = (
                "UnitResult dict" if m.payload_bytes == 0 else f"{m.payload_bytes >> 20} MiB array"
            )
            out.append(
                f"| {m.actors} | {m.inflight_per_actor} | {m.calls} | {size} | "
                f"{m.seconds:.2f} | {m.calls_per_s:,.0f} |"
            )
        small = [m.calls_per_s for m in measured if m.payload_bytes == 0]
        cap = min(small) if small else None
        out.append("")
    kinds = layers * (2 if cls else 1)
    out += [
        f"### Calculated: pooled output, {layers} layers{' + CLS' if cls else ''} "
        f"({kinds} float32 arrays), unit = {rows[0].unit_windows} windows",
        "",
        f"Human genome, one strand: {WINDOWS_PER_GENOME:,} windows of {WINDOW_BP:,} bp. "
        "Rates per GPU are design targets (H100), not measurements.",
        "",
        "| model | GPUs | windows/s | units/s (dispatch) | pooled MB/s | objects/s | "
        "PUT/s per array | per-token GB/s | genome min | units/GPU | "
        f"{cohort:,} haplotypes h |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        flag = ""
        if cap is not None and r.units_per_s > cap / 2:
            flag = " (!)"
        out.append(
            f"| {r.model} | {r.gpus} | {r.windows_per_s:,.0f} | {r.units_per_s:,.1f}{flag} | "
            f"{r.pooled_mb_per_s:,.1f} | {r.objects_per_s:,.0f} | {r.puts_per_array_per_s:,.1f} | "
            f"{r.per_token_gb_per_s:,.1f} | {r.genome_minutes:,.2f} | {r.units_per_gpu:,.1f} | "
            f"{r.cohort_hours:,.1f} |"
        )
    r0 = rows[0]
    out += [
        "",
        f"One genome = {r0.genome_units:,} units and {r0.genome_objects:,} objects "
        "(window fields + embedding arrays + completion mark per unit), whatever the GPU count.",
        f"Per-token GB/s: float16 tokens of all {layers} layers (opt-in; the store's size).",
    ]
    if cap is not None:
        out += [
            "",
            f"(!) = more than half the measured dispatch capacity here ({cap:,.0f} calls/s).",
            "",
            "Smallest unit (power of two) keeping dispatch and per-array PUT/s 4x under their "
            f"caps (dispatch {cap:,.0f}/s measured here, S3 {S3_PUT_PER_PREFIX}/s per prefix):",
            "",
            "| model | " + " | ".join(f"{g} GPUs" for g in GPUS) + " |",
            "|---|" + "---:|" * len(GPUS),
        ]
        for name, (rate, _) in MODELS.items():
            cells = [str(smallest_safe_unit(rate, g, dispatch_cap=cap)) for g in GPUS]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=2000, help="unit calls per measurement")
    p.add_argument(
        "--configs",
        default="2x2,8x2,8x64",
        help="ACTORSxINFLIGHT_PER_ACTOR pairs to measure (8x64 = 512 units in flight)",
    )
    p.add_argument("--cohort", type=int, default=5008, help="haplotype genomes (1000G: 5008)")
    p.add_argument("--payload-mib", type=int, default=1, help="the tensor-return variant")
    p.add_argument("--unit-windows", type=int, default=256, help="windows per unit")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--no-cls", action="store_true")
    p.add_argument("--no-ray", action="store_true", help="skip the measurement")
    p.add_argument("--json", help="also write the raw figures here")
    args = p.parse_args(argv)

    measured: list[Measured] = []
    if not args.no_ray:
        measured = measure_dispatch(
            configs=[tuple(int(x) for x in c.split("x")) for c in args.configs.split(",")],
            calls=args.calls,
            payload_bytes=args.payload_mib << 20,
        )
    cls = not args.no_cls
    rows = calculate(
        unit_windows=args.unit_windows, layers=args.layers, cls=cls, cohort=args.cohort
    )
    print(report(measured, rows, layers=args.layers, cls=cls, cohort=args.cohort))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(
                {
                    "machine": _machine(),
                    "measured": [asdict(m) | {"calls_per_s": m.calls_per_s} for m in measured],
                    "calculated": [asdict(r) for r in rows],
                },
                fh,
                indent=1,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
