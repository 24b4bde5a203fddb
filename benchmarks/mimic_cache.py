"""Cold vs warm load of the MIMIC reader on a FAKE tree (goal: warm at least 10x faster).

Builds a fake MIMIC-IV + MIMIC-CXR tree of a few hundred stays in a temporary folder
(``mindkit.data.mimic_fake``: synthetic values, real layout), then times, for each dataset,
a cold load (empty cache: read the CSVs, pair, discretise every stay, decode every JPG, write
the cache) and warm loads (cache hit: stat the sources, read the arrays), and prints the ratio
cold / median warm. The imports and the loader code are warmed up on a tiny tree first, so the
cold figure is the data work, not Python start-up.

    python benchmarks/mimic_cache.py [--stays 300] [--repeats 5] [--seed 0]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mindkit.data.mimic import MimicDataWarning, build_findings, build_ihm, build_pheno  # noqa: E402
from mindkit.data.mimic_fake import make_fake_mimic_tree  # noqa: E402

BUILDERS = {"mimic_ihm": build_ihm, "mimic_pheno": build_pheno,
            "mimic_cxr_findings": build_findings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stays", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5, help="warm loads per dataset")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.simplefilter("error", MimicDataWarning)  # a clean fake tree drops nothing

    with tempfile.TemporaryDirectory(prefix="mindkit-mimic-bench-") as tmp:
        tmp = Path(tmp)
        small = make_fake_mimic_tree(tmp / "warmup", n_stays=8, seed=args.seed)
        for build in BUILDERS.values():
            build(**small.options, use_cache=False, progress=False)

        t = time.perf_counter()
        tree = make_fake_mimic_tree(tmp / "tree", n_stays=args.stays, seed=args.seed)
        print(f"FAKE tree: {args.stays} stays, {len(tree.images)} images, written in "
              f"{time.perf_counter() - t:.2f} s")
        print(f"{'dataset':<20} {'samples':>7} {'cold s':>8} {'warm s':>8} {'ratio':>7}")
        total_cold = total_warm = 0.0
        for name, build in BUILDERS.items():
            opts = dict(**tree.options, cache_dir=str(tmp / "cache"), progress=False)
            t = time.perf_counter()
            cold = build(**opts)
            t_cold = time.perf_counter() - t
            assert not cold.card["cache"]["hit"]
            warm_times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                warm = build(**opts)
                warm_times.append(time.perf_counter() - t)
                assert warm.card["cache"]["hit"]
            t_warm = statistics.median(warm_times)
            n = sum(len(cold[s]) for s in ("train", "val", "test"))
            print(f"{name:<20} {n:>7} {t_cold:>8.3f} {t_warm:>8.4f} {t_cold / t_warm:>6.1f}x")
            total_cold += t_cold
            total_warm += t_warm
        print(f"{'all three':<20} {'':>7} {total_cold:>8.3f} {total_warm:>8.4f} "
              f"{total_cold / total_warm:>6.1f}x   (goal >= 10x)")


if __name__ == "__main__":
    main()
