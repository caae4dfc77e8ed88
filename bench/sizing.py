"""Sizing: each route's duration and price in Lambda at its memory size and at others, its
cold start at each, and the size of the layer it ships with.

Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB, a share
below it. A measured duration is split into CPU time and waiting; the estimate at a
memory size is CPU time / vCPU share + waiting. Memory sizes come from the built template.
"""

from __future__ import annotations

import math
import os
import tempfile
import zipfile
from pathlib import Path

from lambda_auth_cli.artifact import Artifact

from .environment import LOGICAL_IDS
from .report import Results
from .timing import Samples, duration, markdown_table

# Lambda's prices for arm64 in us-east-1, and the CPU it gives per MB of memory.
PRICE_PER_GB_SECOND = 0.0000133334
PRICE_PER_MILLION_REQUESTS = 0.20
API_GATEWAY_REST_PER_MILLION = 3.50
MB_PER_VCPU = 1769  # at 1,769 MB a function has one full vCPU; below, a proportional share
OTHER_SIZES_MB = (256, 512, 1024, 1769, 3008)
UNZIPPED_LIMIT_MB = 250  # Lambda's limit for a function and all its layers, unzipped


def estimated_seconds(samples: Samples, memory_mb: int) -> float:
    """The measured median, its CPU part slowed to the share of a vCPU that `memory_mb` buys."""
    wall, cpu = samples.median, min(samples.cpu_median, samples.median)
    return cpu / min(1.0, memory_mb / MB_PER_VCPU) + (wall - cpu)


def cost_per_million(seconds: float, memory_mb: int) -> float:
    """Lambda's price for a million calls: requests, and GB-seconds billed by the started millisecond."""
    billed = math.ceil(seconds * 1000) / 1000
    return PRICE_PER_MILLION_REQUESTS + memory_mb / 1024 * billed * PRICE_PER_GB_SECOND * 1e6


def sizing_tables(results: Results, artifact: Artifact) -> str:
    """What each route would take and cost in Lambda at its memory size, and at others.

    Warm calls are the development environment's; cold starts are the artifact's.
    """
    memory = {name: artifact.functions[logical_id].memory_mb for name, logical_id in LOGICAL_IDS.items()}
    sizing, cold_starts = results.warm, results.cold
    rows = []
    options = []
    for route, samples in sizing.items():
        function = route.split(" ")[0]
        mb = memory[function]
        seconds = estimated_seconds(samples, mb)
        started = cold_starts.get(function)
        rows.append(
            [
                route,
                f"{mb} MB",
                f"{min(1.0, mb / MB_PER_VCPU):.2f}",
                duration(samples.median),
                duration(min(samples.cpu_median, samples.median)),
                duration(seconds),
                f"{math.ceil(seconds * 1000)} ms",
                f"${cost_per_million(seconds, mb):.2f}",
                duration(estimated_seconds(started, mb)) if started else "—",
            ]
        )
        estimates = [(size, estimated_seconds(samples, size)) for size in OTHER_SIZES_MB]
        options.append([route, *(f"{duration(at)}, ${cost_per_million(at, size):.2f}" for size, at in estimates)])
    at_template = markdown_table(
        [
            "route",
            "memory",
            "vCPU",
            "median here",
            "of it CPU",
            "est. in Lambda",
            "billed",
            "Lambda $ per 1M calls",
            "cold start, est.",
        ],
        rows,
    )
    alternatives = markdown_table(
        ["route", *(f"{size} MB" for size in OTHER_SIZES_MB)],
        options,
    )
    cold_options = [
        [f"{function}, cold start", *(duration(estimated_seconds(samples, size)) for size in OTHER_SIZES_MB)]
        for function, samples in cold_starts.items()
    ]
    cold_alternatives = markdown_table(["function", *(f"{size} MB" for size in OTHER_SIZES_MB)], cold_options)
    prices = (
        f"arm64, ${PRICE_PER_GB_SECOND}/GB-s, ${PRICE_PER_MILLION_REQUESTS:.2f}/1M requests; "
        f"API Gateway REST adds ${API_GATEWAY_REST_PER_MILLION:.2f}/1M"
    )
    return (
        f"Sizing at template.yaml's memory sizes ({prices}):\n{at_template}\n\n"
        f"The same routes at other sizes (est. duration, Lambda $ per 1M calls):\n{alternatives}\n\n"
        f"Cold starts of the artifact at each size (est.; CPU time scaled like the warm calls'):\n"
        f"{cold_alternatives}\n\n{layer_size(artifact.layer)}"
    )


def layer_size(layer: Path) -> str:
    """The layer's files, unzipped and zipped as `sam deploy` uploads it (deflated)."""
    files = [path for path in layer.rglob("*") if path.is_file()]
    unzipped = sum(path.stat().st_size for path in files)
    with tempfile.TemporaryDirectory(prefix="lambda-auth-layer-") as folder:
        archive = Path(folder) / "layer.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for path in files:
                bundle.write(path, Path("python") / path.relative_to(layer))
        zipped = os.path.getsize(archive)
    sources = sum(1 for path in files if path.suffix == ".py")
    compiled = sum(1 for path in files if path.suffix == ".pyc")
    return (
        f"The layer: {len(files)} files ({sources} .py, {compiled} .pyc), {unzipped / 2**20:.1f} MiB unzipped "
        f"(Lambda allows {UNZIPPED_LIMIT_MB} MB for a function and its layers), {zipped / 2**20:.1f} MiB zipped."
    )
