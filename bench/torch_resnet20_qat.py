#!/usr/bin/env python3
"""PyTorch eager twin of qat4j's ResNet20 INT8 QAT model, timed like dev.qat4j.bench.StepTimer.

Same layout and fake-quant placement as dev.qat4j.models.Models.resNet20 with the `int8` preset:
  stem conv3x3 3->16 (float) + BN + ReLU; 9 basic blocks, each
    h = Q(ReLU(BN(conv3x3_s(Qw x))))  ->  BN(conv3x3(Qw h));  id = Q(BN(conv1x1_s(Qw x))) on resize, else x
    out = Q(h + id)
  with DoReFa quantizers: weights tanh(w)/max|tanh(w)| fake-quantized to 8 bits (symmetric, 127 levels a side),
  activations clamp(0.1 x, 0, 1) fake-quantized to 8 bits (torch.fake_quantize_per_tensor_affine);
  AvgPool 8, FC 64->10 with 16-bit weights.
Step = forward, cross-entropy, backward, SGD (momentum 0.9, weight decay 5e-4); infer = eval forward, no grad.
Prints `TORCH resnet20:int8 <device> <phase> median_ms ...` lines; --json writes them as one object.
"""
import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def quant_weight(w, bits):
    if bits >= 32:
        return w
    t = torch.tanh(w)
    wn = t / t.abs().max()
    s = 2 ** (bits - 1) - 1
    return torch.fake_quantize_per_tensor_affine(wn, 1.0 / s, 0, -s, s)


def quant_act(x, bits):
    n = 2 ** bits - 1
    return torch.fake_quantize_per_tensor_affine(torch.clamp(0.1 * x, 0, 1), 1.0 / n, 0, 0, n)


class QConv(nn.Conv2d):
    def __init__(self, cin, cout, k, stride, pad, bits):
        super().__init__(cin, cout, k, stride, pad, bias=False)
        self.bits = bits

    def forward(self, x):
        return F.conv2d(x, quant_weight(self.weight, self.bits), None, self.stride, self.padding)


class Block(nn.Module):
    def __init__(self, cin, cout, stride, bits):
        super().__init__()
        self.bits = bits
        self.conv1, self.bn1 = QConv(cin, cout, 3, stride, 1, bits), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = QConv(cout, cout, 3, 1, 1, bits), nn.BatchNorm2d(cout)
        self.resize = stride != 1 or cin != cout
        if self.resize:
            self.sc_conv, self.sc_bn = QConv(cin, cout, 1, stride, 0, bits), nn.BatchNorm2d(cout)

    def forward(self, x):
        h = quant_act(F.relu(self.bn1(self.conv1(x))), self.bits)
        h = self.bn2(self.conv2(h))
        idn = quant_act(self.sc_bn(self.sc_conv(x)), self.bits) if self.resize else x
        return quant_act(h + idn, self.bits)


class ResNet20(nn.Module):
    def __init__(self, bits=8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        blocks, cin = [], 16
        for s in range(3):
            cout = 16 << s
            for j in range(3):
                blocks.append(Block(cin, cout, 2 if (j == 0 and s > 0) else 1, bits))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)
        self.fc_bits = 16

    def forward(self, x):
        x = self.blocks(self.stem(x))
        x = torch.flatten(F.avg_pool2d(x, 8), 1)
        return F.linear(x, quant_weight(self.fc.weight, self.fc_bits), self.fc.bias)


def time_phases(model, x, y, steps, warmup, device):
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    train, infer = [], []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        model.train()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()
        t1 = time.perf_counter()
        model.eval()
        with torch.no_grad():
            model(x)
        sync()
        t2 = time.perf_counter()
        if i >= warmup:
            train.append((t1 - t0) * 1e3)
            infer.append((t2 - t1) * 1e3)
    return {"train": train, "infer": infer}


def stats(v):
    s = sorted(v)
    return {"median_ms": s[len(s) // 2], "p10_ms": s[len(s) // 10], "p90_ms": s[(len(s) * 9) // 10]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    torch.backends.cudnn.benchmark = True
    x = torch.randn(a.batch, 3, 32, 32, device=a.device)
    y = (torch.arange(a.batch, device=a.device) % 10).long()
    name = torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu"
    result = {"torch": torch.__version__, "device": name, "batch": a.batch, "variants": {}}
    # fp32: convolutions in true FP32 like qat4j's kernels; tf32: PyTorch's default for cuDNN convolutions.
    variants = [("fp32", False), ("tf32", True)] if a.device == "cuda" else [("fp32", False)]
    for label, tf32 in variants:
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        model = ResNet20(8).to(a.device)
        r = time_phases(model, x, y, a.steps, a.warmup, a.device)
        result["variants"][label] = {}
        for phase, v in r.items():
            st = stats(v)
            result["variants"][label][phase] = st
            print(f"TORCH resnet20:int8 {a.device}-{label} {phase} median_ms {st['median_ms']:.3f} "
                  f"p10_ms {st['p10_ms']:.3f} p90_ms {st['p90_ms']:.3f} steps {a.steps}", flush=True)
    print(f"torch {torch.__version__} on {name}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
