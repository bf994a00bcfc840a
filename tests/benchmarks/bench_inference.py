"""The inference benchmarks of the issue in one run, one after the other on the same machine state:

1. U-Net CPU inference, production path against Keras `model.predict` at batch 32 (slices/s, ratio);
2. lung masking, production against the scikit-image reference (ms per slice, ratio, identical masks);
3. the real RICORD series from import to lung masks, U-Net and involvement (seconds).

    python tests/benchmarks/bench_inference.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("bench_unet_inference.py", "bench_lungmask.py", "bench_pipeline.py")


def main() -> int:
    worst = 0
    for script in SCRIPTS:
        print(f"=== {script}", flush=True)
        result = subprocess.run([sys.executable, str(HERE / script)], cwd=HERE.parents[1])
        worst = max(worst, result.returncode)
    return worst


if __name__ == "__main__":
    sys.exit(main())
