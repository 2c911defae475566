"""Throughput of ``framework data score``: samples and tokens per second, by batch size.

Generates N alpaca samples deterministically (English and Chinese, bench/preprocess.py's
generator, 20-470 tokens each) and scores them with the llama3 plugin's demo model (Llama 3
architecture, hidden 128, 4 layers, the real 128,256-token vocabulary), once per batch size.
Each sample costs two forward passes (the reply with and without its instruction). The
n-gram diversity part is timed apart. Prints markdown rows.

    python bench/data_score.py                         # 200 samples, batch sizes 1, 8, 16
    python bench/data_score.py --samples 1000 --batch-sizes 8 32 --device cuda
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from preprocess import generate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--cutoff-len", type=int, default=512)
    args = parser.parse_args()

    import torch

    from framework.data_score import score_data
    from framework.data_score.diversity import near_duplicate_clusters, topic_clusters
    from framework.plugins import make_plugin_host
    from framework.run_plan import demo_cache_dir

    host = make_plugin_host()
    demo = host.demo_model(demo_cache_dir())
    assert demo is not None, "the llama3 plugin's demo model is needed: pip install -e plugins/llama3[demo]"
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bench.jsonl"
        generate(data, args.samples)
        texts = data.read_text(encoding="utf-8").splitlines()
        started = time.perf_counter()
        near_duplicate_clusters(texts)
        topic_clusters(texts)
        diversity_s = time.perf_counter() - started
        print(f"load average {os.getloadavg()[0]:.1f}; torch threads {torch.get_num_threads()}; "
              f"{args.samples} samples; diversity (n-gram) part {diversity_s:.2f} s")
        print("| batch size | device | samples/s | tokens/s (model) | model s | total s |")
        print("|---|---|---|---|---|---|")
        for bs in args.batch_sizes:
            result = score_data(demo.path, [str(data)], output_dir=Path(tmp) / f"out{bs}", host=host, batch_size=bs,
                                cutoff_len=args.cutoff_len)
            t = result.report["throughput"]
            print(f"| {bs} | {t['device']} | {t['samples_per_second']} | {t['tokens_per_second']} | "
                  f"{t['model_seconds']} | {t['total_seconds']} |", flush=True)


if __name__ == "__main__":
    main()
