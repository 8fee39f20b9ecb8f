#!/usr/bin/env python3
"""The encoder trunk's forward + backward in PyTorch, as `npm run bench -- trunk` times ours:
the 4 convs (32 filters, ReLU after each) and the 50-wide dense head on 84x84x9 pixels,
channels_last, gradients for every parameter and none for the pixels. One JSON line per
precision: median ms of forward + backward after warm-up, and each alone.

    python3 experiments/bench/pytorch_trunk.py --batch-size 128 --precision fp32,bf16 --threads 2

bf16 is the module and the pixels in bfloat16 (oneDNN's bf16 kernels, fp32 accumulation),
as our engine runs its trunk in bf16, rather than autocast: the point is what the kernels
themselves give on this CPU, the floor under any trunk built on them. The pixels are
converted once, as our engine converts a batch once; the 1/255 scaling is left out, as
ours folds it into the first filter.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn

SIZE, CHANNELS, FILTERS, LAYERS, LATENT = 84, 9, 32, 4, 50


class Trunk(nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(CHANNELS, FILTERS, 3, stride=2)] + [nn.Conv2d(FILTERS, FILTERS, 3) for _ in range(LAYERS - 1)])
        side = (SIZE - 3) // 2 + 1 - 2 * (LAYERS - 1)
        self.fc = nn.Linear(FILTERS * side * side, LATENT)

    def forward(self, x):
        for conv in self.convs:
            x = torch.relu(conv(x))
        # NHWC order, as ours flattens: a view of channels_last memory
        return self.fc(x.permute(0, 2, 3, 1).reshape(x.size(0), -1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch-size', type=int, default=128)
    ap.add_argument('--precision', default='fp32,bf16')
    ap.add_argument('--threads', type=int, default=torch.get_num_threads())
    ap.add_argument('--iters', type=int, default=5)
    ap.add_argument('--warmup', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(7)
    pixels = torch.randint(0, 256, (args.batch_size, CHANNELS, SIZE, SIZE), dtype=torch.uint8).contiguous(memory_format=torch.channels_last)
    for precision in args.precision.split(','):
        if precision not in ('fp32', 'bf16'):
            raise SystemExit(f"pytorch_trunk.py: --precision takes fp32 and bf16, got '{precision}'")
        dtype = torch.float32 if precision == 'fp32' else torch.bfloat16
        trunk = Trunk().to(dtype=dtype, memory_format=torch.channels_last)
        x = pixels.to(dtype)
        d_out = torch.randn(args.batch_size, LATENT, dtype=dtype)
        forward, backward = [], []
        for i in range(args.warmup + args.iters):
            trunk.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            out = trunk(x)
            t1 = time.perf_counter()
            out.backward(d_out)
            t2 = time.perf_counter()
            if i >= args.warmup:
                forward.append((t1 - t0) * 1e3)
                backward.append((t2 - t1) * 1e3)
        total = [f + b for f, b in zip(forward, backward)]
        print(json.dumps({
            'bench': 'trunk-pytorch', 'torch': torch.__version__, 'precision': precision, 'batchSize': args.batch_size,
            'threads': torch.get_num_threads(), 'iters': args.iters, 'medianMs': round(statistics.median(total), 1),
            'minMs': round(min(total), 1), 'forwardMs': round(statistics.median(forward), 1), 'backwardMs': round(statistics.median(backward), 1),
        }), flush=True)


if __name__ == '__main__':
    main()
