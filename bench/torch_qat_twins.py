#!/usr/bin/env python3
"""PyTorch twins of qat4j's three QAT models, timed eager and compiled, plus a whole ResNet20 epoch (issue 20).

Models (the same layers, order and fake-quant placement as dev.qat4j.models.Models; parameter counts excluding the
clips alpha are checked against algorithms.md A5 and a mismatch is an error):
  resnet20    int8 preset: DoReFa weights and activations (the network the earlier torch_resnet20_qat.py timed)  272,474
  toynet      cfg1-star: mPACT activations (learnable alpha), DoReFa-tanh weights at 8 bits, FC input 16 bits  203,626
  mobilenetv2 cfg1-star: mPACT at 8 bits in the 17 blocks, stem weights float, head and FC weights 16 bits   2,383,050
Quantizers (algorithms.md A1, A2; dev.qat4j.quant): weights t = tanh(w), w_n = t / max|t| (whole tensor, not
detached), w_q = rint(w_n * S) / S with S = 2^(k-1) - 1; DoReFa activations rint(clamp(0.1 x, 0, 1) * n) / n,
n = 2^b - 1, gradient 0.1 * 1[0 <= x <= 10]; mPACT y = clamp(x, -|a|, |a|), s = (2^(b-1) - 1) / |a|, rint(y s) / s,
dy/dx = 1[|x| <= |a|], dy/da = sign(a) (1[x >= |a|] - 1[x <= -|a|]). Rounding is torch.round (half to even), as
qat4j's rint. Eager uses fused ATen fake-quant kernels (torch.fake_quantize_per_tensor_affine, as the earlier script)
and an autograd.Function for mPACT; compiled uses the same math as plain differentiable ops with straight-through
`y + (q - y).detach()` so that inductor fuses every quantizer into its neighbours.

A step: forward, cross-entropy (+ 2e-4 * sum alpha^2, the seed's penalty, where there are clips), backward, SGD
(momentum 0.9, weight decay 5e-4 on every parameter, fused multi-tensor kernel), synchronised at its end; batch 128
of random images. Convolutions and matmuls run in true FP32 by default (--precision fp32), as qat4j's kernels do.
Compiled: torch.compile(forward + loss, mode=--compile-mode, default max-autotune, which includes CUDA graphs);
AOTAutograd compiles the backward of the same graph; the optimizer is PyTorch's fused SGD.

The epoch (ResNet20): 50,000 uint8 images kept in GPU memory (random, or CIFAR-10 with --data), each epoch a GPU
permutation, random crop (zero padding 4) + horizontal flip and normalisation on the GPU, 390 batches of 128 and
one of 80 (run eagerly in the compiled variant, so that no second shape is compiled), loss and train accuracy summed
on the GPU and read once; then 10,000 test images, batch 128 (the last 16 eagerly too). Median over the epochs after
the first.

Usage:
  torch_qat_twins.py --device cuda --json OUT.json [--models resnet20,toynet,mobilenetv2] [--epoch]
                     [--variants eager,compiled] [--compile-mode max-autotune] [--budget 200] [--steps 30]
  torch_qat_twins.py ratios OUTDIR      # RATIO lines from OUTDIR's qat4j-*.json and torch-twins.json
  torch_qat_twins.py params             # parameter counts only (CPU)
The driver runs each variant in a child process with a time limit (compiled: one child per model), so a compile
that does not finish in time is killed and reported, and the ratio falls back to the variant that finished.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

EXPECTED_PARAMS = {"resnet20": 272474, "toynet": 203626, "mobilenetv2": 2383050}
PRESETS = {"resnet20": "int8", "toynet": "cfg1-star", "mobilenetv2": "cfg1-star"}
MODELS = ["resnet20", "toynet", "mobilenetv2"]

torch = nn = F = None
ATEN_FQ = True  # eager: fused ATen fake-quant kernels; compiled: plain ops inductor can fuse


def _import_torch():
    global torch, nn, F
    import torch as _t
    import torch.nn as _nn
    import torch.nn.functional as _F
    torch, nn, F = _t, _nn, _F


# ------------------------------------------------------------------------------------------------ quantizers

def quant_weight(w, bits):
    """DoReFa-tanh weights (algorithms.md A1), bits 3..16; 32 = float."""
    if bits >= 32:
        return w
    t = torch.tanh(w)
    wn = t / t.abs().max()
    s = 2 ** (bits - 1) - 1
    if ATEN_FQ:
        return torch.fake_quantize_per_tensor_affine(wn, 1.0 / s, 0, -s, s)
    q = torch.round(wn * s) / s
    return wn + (q - wn).detach()


def quant_dorefa(x, bits):
    """DoReFa activation: rint(clamp(0.1 x, 0, 1) * n) / n; 32 = identity."""
    if bits >= 32:
        return x
    n = 2 ** bits - 1
    y = torch.clamp(0.1 * x, 0, 1)
    if ATEN_FQ:
        return torch.fake_quantize_per_tensor_affine(y, 1.0 / n, 0, 0, n)
    q = torch.round(y * n) / n
    return y + (q - y).detach()


class _MPactFn(object):
    fn = None

    @classmethod
    def get(cls):
        if cls.fn is None:
            class MPact(torch.autograd.Function):
                @staticmethod
                def forward(ctx, x, alpha, n):
                    a = alpha.abs()
                    s = n / a
                    ctx.save_for_backward(x, alpha)
                    return torch.round(torch.minimum(torch.maximum(x, -a), a) * s) / s

                @staticmethod
                def backward(ctx, g):
                    x, alpha = ctx.saved_tensors
                    a = alpha.abs()
                    gx = torch.where(x.abs() <= a, g, torch.zeros_like(g))
                    side = (x >= a).to(g.dtype) - (x <= -a).to(g.dtype)
                    ga = (g * side).sum() * torch.sign(alpha)
                    return gx, ga.reshape(alpha.shape), None
            cls.fn = MPact
        return cls.fn


def quant_mpact(x, alpha, bits):
    """mPACT (algorithms.md A2.3) with the straight-through gradients of dev.qat4j.quant.ActQuantizer."""
    if bits >= 32:
        return x
    n = float(2 ** (bits - 1) - 1)
    if ATEN_FQ:
        return _MPactFn.get().apply(x, alpha, n)
    a = alpha.abs()
    ad = a.detach()
    s = n / ad
    q = torch.round(torch.minimum(torch.maximum(x.detach(), -ad), ad) * s) / s
    inside = (x.abs() <= a).to(x.dtype)
    side = (x >= a).to(x.dtype) - (x <= -a).to(x.dtype)
    sur = x * inside + a * side  # value unused; its gradient is the STE's
    return q + (sur - sur.detach())


# ------------------------------------------------------------------------------------------------ layers

def _layers():
    class QConv(nn.Conv2d):
        def __init__(self, cin, cout, k, stride, pad, bits, groups=1):
            super().__init__(cin, cout, k, stride, pad, groups=groups, bias=False)
            self.bits = bits

        def forward(self, x):
            return F.conv2d(x, quant_weight(self.weight, self.bits), None, self.stride, self.padding, 1,
                            self.groups)

    class QLinear(nn.Linear):
        def __init__(self, cin, cout, bits):
            super().__init__(cin, cout)
            self.bits = bits

        def forward(self, x):
            return F.linear(x, quant_weight(self.weight, self.bits), self.bias)

    class MPact(nn.Module):
        """An mPACT quantizer with its own learnable clip alpha (identity, no alpha, at 32 bits)."""

        def __init__(self, bits, alpha):
            super().__init__()
            self.bits = bits
            if bits < 32:
                self.alpha = nn.Parameter(torch.tensor([float(alpha)]))

        def forward(self, x):
            return x if self.bits >= 32 else quant_mpact(x, self.alpha, self.bits)

    return QConv, QLinear, MPact


def build(name):
    QConv, QLinear, MPact = _layers()

    # ---- ResNet20, int8 preset (DoReFa): the network of the earlier bench/torch_resnet20_qat.py
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
            h = quant_dorefa(F.relu(self.bn1(self.conv1(x))), self.bits)
            h = self.bn2(self.conv2(h))
            idn = quant_dorefa(self.sc_bn(self.sc_conv(x)), self.bits) if self.resize else x
            return quant_dorefa(h + idn, self.bits)

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
            self.fc = QLinear(64, 10, 16)

        def forward(self, x):
            x = self.blocks(self.stem(x))
            return self.fc(torch.flatten(F.avg_pool2d(x, 8), 1))

    # ---- ToyNet, cfg1-star: abit [32, 8 x11, 16], wbit [8] x13, every quantizer but the input's mPACT
    class ConvNeXtBlock(nn.Module):
        def __init__(self, cin, cout, stride, ain, aout, wb):
            super().__init__()
            self.down = None
            if stride != 1 or cin != cout:  # BN -> conv k=s stride s -> Q_in (the BN output is not quantized)
                self.down = nn.Sequential(nn.BatchNorm2d(cin), QConv(cin, cout, stride, stride, 0, wb),
                                          MPact(ain, 10.0))
            self.main = nn.Sequential(QConv(cout, cout, 3, 1, 1, wb, groups=cout), nn.BatchNorm2d(cout),
                                      MPact(ain, 10.0), QConv(cout, 4 * cout, 1, 1, 0, wb), nn.ReLU(),
                                      MPact(ain, 10.0), QConv(4 * cout, cout, 1, 1, 0, wb))
            self.out_q = MPact(aout, 10.0)

        def forward(self, x):
            if self.down is not None:
                x = self.down(x)
            return self.out_q(self.main(x) + x)

    class ToyNet(nn.Module):
        def __init__(self):
            super().__init__()
            abit = [32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16]
            wbit = [8] * 13
            # abit[0] = 32: the input quantizer is the identity (qat4j builds it as a no-op layer)
            self.stem = nn.Sequential(QConv(3, 16, 3, 1, 1, wbit[0]), nn.BatchNorm2d(16), MPact(abit[1], 6.0))
            blocks, cin, i = [], 16, 1
            for width, depth, stride in zip([16, 32, 32, 64], [1, 3, 3, 3], [1, 2, 1, 2]):
                for j in range(depth):
                    blocks.append(ConvNeXtBlock(cin, width, stride if j == 0 else 1, abit[i], abit[i + 1], wbit[i]))
                    cin, i = width, i + 1
            self.blocks = nn.Sequential(*blocks)
            self.header = nn.Sequential(QConv(64, 512, 1, 1, 0, wbit[11]), nn.BatchNorm2d(512),
                                        MPact(abit[12], 6.0))
            self.fc_q = MPact(abit[12], 6.0)
            self.fc = QLinear(512, 10, wbit[12])
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out")
            nn.init.normal_(self.fc.weight, 0, 0.001)
            nn.init.zeros_(self.fc.bias)

        def forward(self, x):
            x = self.header(self.blocks(self.stem(x)))
            x = self.fc_q(F.adaptive_avg_pool2d(x, 1))
            return self.fc(torch.flatten(x, 1))

    # ---- MobileNetV2, cfg1-star: abit [32, 8 x17, 32, 32], wbit [32, 8 x17, 16, 16]
    class MBBlock(nn.Module):
        def __init__(self, cin, cout, e, stride, ain, aout, wb):
            super().__init__()
            p = e * cin
            self.main = nn.Sequential(QConv(cin, p, 1, 1, 0, wb), nn.BatchNorm2d(p), nn.ReLU6(), MPact(ain, 10.0),
                                      QConv(p, p, 3, stride, 1, wb, groups=p), nn.BatchNorm2d(p), nn.ReLU6(),
                                      MPact(ain, 10.0), QConv(p, cout, 1, 1, 0, wb), nn.BatchNorm2d(cout))
            self.shortcut = None
            if stride == 1:  # a conv shortcut on every stride-1 block, even when cin == cout
                self.shortcut = nn.Sequential(QConv(cin, cout, 1, 1, 0, wb), nn.BatchNorm2d(cout), MPact(aout, 10.0))
            self.out_q = MPact(aout, 10.0)

        def forward(self, x):
            h = self.main(x)
            if self.shortcut is not None:
                h = h + self.shortcut(x)
            return self.out_q(h)

    class MobileNetV2(nn.Module):
        CFG = [(1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
               (6, 320, 1, 1)]

        def __init__(self):
            super().__init__()
            abit = [32] + [8] * 17 + [32, 32]
            wbit = [32] + [8] * 17 + [16, 16]
            self.stem = nn.Sequential(QConv(3, 32, 3, 1, 1, wbit[0]), nn.BatchNorm2d(32), nn.ReLU(),
                                      MPact(abit[1], 10.0))
            blocks, cin, i = [], 32, 1
            for e, cout, n, s in self.CFG:
                for j in range(n):
                    blocks.append(MBBlock(cin, cout, e, s if j == 0 else 1, abit[i], abit[i + 1], wbit[i]))
                    cin, i = cout, i + 1
            self.blocks = nn.Sequential(*blocks)
            self.head = nn.Sequential(QConv(320, 1280, 1, 1, 0, wbit[18]), nn.BatchNorm2d(1280), nn.ReLU())
            self.fc_bits = abit[19]  # DoReFa on the pooled features: 32 = off in cfg1-star
            self.fc = QLinear(1280, 10, wbit[19])

        def forward(self, x):
            x = F.avg_pool2d(self.head(self.blocks(self.stem(x))), 4)
            return self.fc(torch.flatten(quant_dorefa(x, self.fc_bits), 1))

    return {"resnet20": lambda: ResNet20(8), "toynet": ToyNet, "mobilenetv2": MobileNetV2}[name]()


def count_params(model):
    """Parameters excluding the clips alpha (algorithms.md A5's convention), and the number of alphas."""
    n = a = 0
    for name, p in model.named_parameters():
        if name.endswith("alpha"):
            a += p.numel()
        else:
            n += p.numel()
    return n, a


def check_params(name, model):
    n, a = count_params(model)
    want = EXPECTED_PARAMS[name]
    ok = n == want
    print(f"PARAMS {name}:{PRESETS[name]} {n} (expected {want}: {'ok' if ok else 'MISMATCH'}) + {a} alpha",
          flush=True)
    if not ok:
        raise SystemExit(f"{name}: {n} parameters, the seed's network has {want}: the twin is not qat4j's network")
    return n, a


# ------------------------------------------------------------------------------------------------ timing

def stats(v):
    s = sorted(v)
    return {"median_ms": s[len(s) // 2], "p10_ms": s[len(s) // 10], "p90_ms": s[(len(s) * 9) // 10], "n": len(s)}


class Runner:
    """One model with its optimizer and its train / eval step functions, eager or compiled."""

    def __init__(self, name, device, compiled, mode):
        self.name, self.device, self.compiled = name, device, compiled
        self.model = build(name).to(device)
        self.alphas = [p for n, p in self.model.named_parameters() if n.endswith("alpha")]
        params = list(self.model.parameters())
        kw = dict(lr=0.01, momentum=0.9, weight_decay=5e-4)
        self.opt = None
        if device == "cuda":
            for extra in ({"fused": True}, {"foreach": True}):
                try:
                    self.opt = torch.optim.SGD(params, **kw, **extra)
                    self.opt_kind = next(iter(extra))
                    break
                except (TypeError, RuntimeError, ValueError):
                    pass
        if self.opt is None:
            self.opt = torch.optim.SGD(params, **kw)
            self.opt_kind = "default"
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        self.fwd_loss = self._fwd_loss
        self.infer_fn = self._infer
        self.mark = lambda: None
        if compiled:
            self.fwd_loss = torch.compile(self._fwd_loss, mode=mode)
            self.infer_fn = torch.compile(self._infer, mode=mode)
            mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)
            if mark is not None:
                self.mark = mark

    def _fwd_loss(self, x, y):
        logits = self.model(x)
        loss = F.cross_entropy(logits, y)
        if self.alphas:  # one cat + square-sum, not one kernel per clip
            loss = loss + 2e-4 * torch.cat(self.alphas).square().sum()
        return loss, (logits.argmax(1) == y).sum()

    def _infer(self, x):
        with torch.no_grad():
            return self.model(x)

    def train_step(self, x, y, eager=False):
        """One step, not synchronised; returns (loss, correct) as GPU tensors (detached copies)."""
        self.model.train()
        self.mark()
        loss, correct = (self._fwd_loss if eager else self.fwd_loss)(x, y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.compiled and not eager:  # CUDA graph outputs are overwritten by the next replay
            return loss.detach().clone(), correct.clone()
        return loss.detach(), correct

    def infer(self, x, eager=False):
        self.model.eval()
        self.mark()
        out = (self._infer if eager else self.infer_fn)(x)
        return out.clone() if not eager else out


def time_steps(r, x, y, steps, warmup, infer):
    res = {}
    t0 = time.perf_counter()
    r.train_step(x, y)
    r.sync()
    res["first_train_step_s"] = time.perf_counter() - t0  # compile (+ autotune, graph capture) when compiled
    train = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        r.train_step(x, y)
        r.sync()
        if i >= warmup:
            train.append((time.perf_counter() - t0) * 1e3)
    res["train"] = stats(train)
    if infer:
        t0 = time.perf_counter()
        r.infer(x)
        r.sync()
        res["first_infer_s"] = time.perf_counter() - t0
        inf = []
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            r.infer(x)
            r.sync()
            if i >= warmup:
                inf.append((time.perf_counter() - t0) * 1e3)
        res["infer"] = stats(inf)
    return res


# ------------------------------------------------------------------------------------------------ the epoch

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)


def load_cifar(folder, device):
    def read(files):
        raw = b"".join(open(os.path.join(folder, f), "rb").read() for f in files)
        rec = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, 3073)
        return rec[:, 1:].reshape(-1, 3, 32, 32).to(device), rec[:, 0].long().to(device)
    tr = read([f"data_batch_{i}.bin" for i in range(1, 6)])
    te = read(["test_batch.bin"])
    return tr, te


def random_data(n_train, n_test, device):
    g = torch.Generator().manual_seed(1)
    xtr = torch.randint(0, 256, (n_train, 3, 32, 32), dtype=torch.uint8, generator=g).to(device)
    xte = torch.randint(0, 256, (n_test, 3, 32, 32), dtype=torch.uint8, generator=g).to(device)
    ytr = (torch.arange(n_train) % 10).to(device)
    yte = (torch.arange(n_test) % 10).to(device)
    return (xtr, ytr), (xte, yte)


def make_batch(images, idx, oy, ox, flip, mean, std):
    """uint8 images[idx] -> random crop (zero padding 4) + horizontal flip -> float, normalised, on the device."""
    x = images[idx]
    b = x.shape[0]
    xp = F.pad(x, (4, 4, 4, 4))  # zero pixels, as torchvision's RandomCrop(32, padding=4) and qat4j
    base = torch.arange(32, device=x.device)
    rows = oy[:, None] + base                                     # [B, 32]
    cols = ox[:, None] + torch.where(flip[:, None], 31 - base, base)  # [B, 32], mirrored where flipped
    bi = torch.arange(b, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]  # [B, 32, 32, C]
    out = out.permute(0, 3, 1, 2).float() / 255.0
    return (out - mean) / std


def normalise(x, mean, std):
    return (x.float() / 255.0 - mean) / std


def run_epochs(r, data, epochs, batch, compiled, mode):
    (xtr, ytr), (xte, yte) = data
    dev = xtr.device
    mean = torch.tensor(MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=dev).view(1, 3, 1, 1)
    mk, norm = make_batch, normalise
    if compiled:  # the data path compiled too (a small graph)
        try:
            from torch._dynamo import mark_static_address as mark_static
        except ImportError:
            mark_static = None
        if mark_static is not None and dev.type == "cuda":  # no copy of the data set into a CUDA graph input per call
            for t in (xtr, xte):
                mark_static(t)
        mk = torch.compile(make_batch, mode=mode)
        norm = torch.compile(normalise, mode=mode)
    n, nt = xtr.shape[0], xte.shape[0]
    full, tail = n // batch, n % batch
    full_t, tail_t = nt // batch, nt % batch
    # warm-up (compile where compiled) of every function the epoch calls, outside the timed epochs
    t0 = time.perf_counter()
    z = torch.zeros(batch, dtype=torch.long, device=dev)
    zb = torch.zeros(batch, dtype=torch.bool, device=dev)
    for _ in range(2):
        r.train_step(mk(xtr, torch.arange(batch, device=dev), z, z, zb, mean, std), ytr[:batch])
        r.infer(norm(xte[:batch], mean, std))
    r.sync()
    warm_s = time.perf_counter() - t0
    out = {"epochs": epochs, "batch": batch, "train_images": n, "test_images": nt, "warmup_s": warm_s,
           "train_s": [], "eval_s": [], "test_accuracy": None}
    for e in range(epochs):
        r.sync()
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=dev)
        oy = torch.randint(0, 9, (n,), device=dev)
        ox = torch.randint(0, 9, (n,), device=dev)
        flip = torch.rand(n, device=dev) < 0.5
        loss_sum = torch.zeros((), device=dev)
        correct = torch.zeros((), dtype=torch.long, device=dev)
        for i in range(full + (1 if tail else 0)):
            lo, hi = i * batch, min(n, (i + 1) * batch)
            idx = perm[lo:hi]
            tail_batch = hi - lo != batch
            f = make_batch if tail_batch else mk
            x = f(xtr, idx, oy[lo:hi], ox[lo:hi], flip[lo:hi], mean, std)
            loss, c = r.train_step(x, ytr[idx], eager=tail_batch)
            loss_sum += loss * (hi - lo)
            correct += c
        train_loss = (loss_sum / n).item()  # the one read-back of the epoch
        t1 = time.perf_counter()
        tc = torch.zeros((), dtype=torch.long, device=dev)
        for i in range(full_t + (1 if tail_t else 0)):
            lo, hi = i * batch, min(nt, (i + 1) * batch)
            tail_batch = hi - lo != batch
            x = (normalise if tail_batch else norm)(xte[lo:hi], mean, std)
            logits = r.infer(x, eager=tail_batch)
            tc += (logits.argmax(1) == yte[lo:hi]).sum()
        acc = tc.item() / nt
        t2 = time.perf_counter()
        out["train_s"].append(t1 - t0)
        out["eval_s"].append(t2 - t1)
        out["test_accuracy"] = acc
        print(f"TORCH-EPOCH {r.name}:{PRESETS[r.name]} {r.device}-{'compiled' if compiled else 'eager'} epoch {e} "
              f"train_s {t1 - t0:.3f} eval_s {t2 - t1:.3f} train_img_per_s {n / (t1 - t0):.0f} "
              f"loss {train_loss:.4f} train_acc {correct.item() / n:.4f} test_acc {acc:.4f}", flush=True)
    later = slice(1, None) if epochs > 1 else slice(0, None)
    tr = sorted(out["train_s"][later])
    ev = sorted(out["eval_s"][later])
    mt, me = tr[len(tr) // 2], ev[len(ev) // 2]
    out["median"] = {"train_s": mt, "eval_s": me, "total_s": mt + me, "total_ms": (mt + me) * 1e3}
    out["first"] = {"train_s": out["train_s"][0], "eval_s": out["eval_s"][0]}
    return out


# ------------------------------------------------------------------------------------------------ child: one variant

def inductor_counters():
    """Inductor's counters (cudagraph_skips among them) where this torch has them; {} otherwise."""
    try:
        from torch._dynamo.utils import counters
        return {k: int(v) for k, v in counters["inductor"].items()}
    except Exception:  # noqa: BLE001 - informative only
        return {}


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def setup(a):
    _import_torch()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    torch.backends.cudnn.benchmark = True
    tf32 = a.precision == "tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def child(a):
    """Times one variant (eager: every model; compiled: a.models) and writes a.json after every phase."""
    global ATEN_FQ
    setup(a)
    compiled = a.variant == "compiled"
    name = torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu"
    res = {"torch": torch.__version__, "device": name, "variant": a.variant, "precision": a.precision,
           "compile_mode": a.compile_mode if compiled else None, "batch": a.batch, "models": {}, "epoch": {}}
    if compiled and a.fake_compile:  # plumbing test on a torch without torch.compile: "compiled" = identity
        torch.compile = lambda fn, mode=None: fn
    if compiled and not hasattr(torch, "compile"):
        msg = f"torch.compile unavailable in torch {torch.__version__}: compiled variant skipped"
        print(msg, flush=True)
        for m in a.models:
            res["models"][m] = {"status": "unavailable", "reason": msg}
        write_json(a.json, res)
        return
    ATEN_FQ = not compiled
    x = torch.randn(a.batch, 3, 32, 32, device=a.device)
    y = (torch.arange(a.batch, device=a.device) % 10).long()
    for m in a.models:
        entry = {"status": "running", "started": time.time()}
        res["models"][m] = entry
        write_json(a.json, res)
        torch.manual_seed(1)
        r = Runner(m, a.device, compiled, a.compile_mode)
        entry["params"], entry["alphas"] = check_params(m, r.model)
        entry["optimizer"] = r.opt_kind
        write_json(a.json, res)
        if compiled:
            print(f"COMPILING {m} mode={a.compile_mode} (forward+loss+backward; fused SGD)", flush=True)
        t = time_steps(r, x, y, a.steps, a.warmup, m in a.infer)
        entry.update(t)
        entry["status"] = "ok"
        tag = f"{m}:{PRESETS[m]} {a.device}-{a.variant}"
        if compiled:
            entry["inductor_counters"] = inductor_counters()
            skips = entry["inductor_counters"].get("cudagraph_skips", 0)
            if skips:
                print(f"WARNING {tag}: {skips} graph(s) ran without CUDA graphs (cudagraph_skips)", flush=True)
            extra = f" infer {t['first_infer_s']:.1f} s" if "first_infer_s" in t else ""
            print(f"COMPILE {tag} mode {a.compile_mode}: first train step {t['first_train_step_s']:.1f} s{extra}",
                  flush=True)
        for phase in ("train", "infer"):
            if phase in t:
                st = t[phase]
                print(f"TORCH {tag} {phase} median_ms {st['median_ms']:.3f} p10_ms {st['p10_ms']:.3f} "
                      f"p90_ms {st['p90_ms']:.3f} steps {a.steps}", flush=True)
        write_json(a.json, res)
        if a.epoch and m == "resnet20":
            ep = {"status": "running", "started": time.time()}
            res["epoch"][m] = ep
            write_json(a.json, res)
            if a.data and os.path.isdir(a.data):
                data = load_cifar(a.data, a.device)
                ep["data"] = "cifar10 " + a.data
            else:
                data = random_data(a.train_images, a.test_images, a.device)
                ep["data"] = "random uint8 images of CIFAR-10's shape"
            print(f"epoch data: {ep['data']} ({data[0][0].shape[0]} train / {data[1][0].shape[0]} test, "
                  f"kept on {a.device})", flush=True)
            ep.update(run_epochs(r, data, a.epochs, a.batch, compiled, a.compile_mode))
            ep["status"] = "ok"
            med = ep["median"]
            print(f"TORCH-EPOCHS {tag} median_train_s {med['train_s']:.3f} median_eval_s {med['eval_s']:.3f} "
                  f"median_total_s {med['total_s']:.3f} warmup_s {ep['warmup_s']:.1f}", flush=True)
            write_json(a.json, res)
            del data
        del r
        if a.device == "cuda":
            torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------------------ driver

_current_child = None


def _on_term(signum, frame):
    """The driver stopped from outside (an outer timeout): its child, in its own session, goes with it."""
    if _current_child is not None and _current_child.poll() is None:
        os.killpg(_current_child.pid, signal.SIGKILL)
    sys.exit(128 + signum)


def run_child(argv, timeout):
    """Runs a child in its own process group; kills the group at the timeout. Returns (rc, seconds)."""
    global _current_child
    t0 = time.time()
    p = subprocess.Popen(argv, start_new_session=True)
    _current_child = p
    try:
        rc = p.wait(timeout=max(1, timeout))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        rc = "timeout"
    return rc, time.time() - t0


def driver(a):
    deadline = time.time() + a.budget
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    outdir = os.path.dirname(os.path.abspath(a.json))
    stem = os.path.splitext(os.path.basename(a.json))[0]
    common = ["--device", a.device, "--batch", str(a.batch), "--steps", str(a.steps), "--warmup", str(a.warmup),
              "--precision", a.precision, "--compile-mode", a.compile_mode, "--epochs", str(a.epochs),
              "--train-images", str(a.train_images), "--test-images", str(a.test_images),
              "--infer", ",".join(a.infer) or "none", "--threads", str(a.threads)]
    if a.data:
        common += ["--data", a.data]
    if a.fake_compile:
        common += ["--fake-compile"]
    if a.epoch:
        common += ["--epoch"]
    merged = {"variants": {}, "compile_mode": a.compile_mode, "precision": a.precision, "budget_s": a.budget,
              "children": []}
    me = os.path.abspath(__file__)
    jobs = []
    if "eager" in a.variants:
        jobs.append(("eager", a.models, a.eager_timeout))
    if "compiled" in a.variants:
        jobs += [("compiled", [m], a.compile_timeout) for m in a.models]
    for variant, models, cap in jobs:
        left = deadline - time.time() - 2
        part = os.path.join(outdir, f"{stem}.{variant}.{'-'.join(models)}.json")
        if os.path.exists(part):
            os.remove(part)
        if left < 10:
            print(f"SKIP {variant} {','.join(models)}: budget spent ({a.budget} s)", flush=True)
            rc, secs = "skipped (budget spent)", 0.0
        else:
            limit = min(cap, left)
            print(f"== torch {variant} {','.join(models)} (limit {limit:.0f} s)", flush=True)
            rc, secs = run_child([sys.executable, me, "child", "--variant", variant, "--models", ",".join(models),
                                  "--json", part] + common, limit)
            if rc == "timeout":
                print(f"TIMEOUT torch {variant} {','.join(models)}: killed after {secs:.0f} s (limit {limit:.0f} s); "
                      f"what it finished is kept", flush=True)
        merged["children"].append({"variant": variant, "models": models, "rc": rc, "seconds": secs})
        part_res = {}
        if os.path.exists(part):
            with open(part) as f:
                part_res = json.load(f)
        v = merged["variants"].setdefault(variant, {"models": {}, "epoch": {}})
        for k in ("torch", "device", "compile_mode"):
            if k in part_res:
                v[k] = part_res[k]
                merged.setdefault(k if k != "compile_mode" else "_", part_res[k])
        merged.pop("_", None)
        for key in ("models", "epoch"):
            for m, e in part_res.get(key, {}).items():
                if e.get("status") == "running":  # killed or failed in the middle
                    e["status"] = "did not finish: " + (f"killed at the {secs:.0f} s limit" if rc == "timeout"
                                                        else f"exit code {rc}")
                v[key][m] = e
        for m in models:
            if m not in v["models"]:
                v["models"][m] = {"status": f"did not start or finish (exit {rc})"}
            if a.epoch and m == "resnet20" and m not in v["epoch"] and v["models"][m].get("status") != "unavailable":
                v["epoch"][m] = {"status": f"did not start (exit {rc})"}
        write_json(a.json, merged)
    print(f"torch {merged.get('torch')} on {merged.get('device')}; figures in {a.json}", flush=True)


# ------------------------------------------------------------------------------------------------ ratios

def pick_fastest(variants, get):
    """(variant, value, notes) of the smallest finished figure among the variants; notes say what did not finish."""
    best, notes = None, []
    for vname, v in sorted(variants.items()):
        val = get(v)
        if val is None:
            notes.append(f"{vname}: {status_of(v)}")
        elif best is None or val < best[1]:
            best = (vname, val)
    return best, notes


def which(notes):
    return "the only variant that finished" if notes else "the faster"


def status_of(v):
    return v.get("status", "missing") if isinstance(v, dict) else "missing"


def ratios(outdir):
    def load(fname):
        p = os.path.join(outdir, fname)
        try:
            with open(p) as f:
                return json.load(f)
        except Exception as e:  # noqa: BLE001 - every reason is reported the same way
            print(f"no {fname}: {e}")
            return None

    t = load("torch-twins.json")
    if t is None:
        print("no ratios: torch-twins.json missing")
        return 0
    tv = t.get("variants", {})

    def step_figure(model, phase):
        def get(v):
            e = v.get("models", {}).get(model, {})
            return e[phase]["median_ms"] if e.get("status") == "ok" and phase in e else None
        return {k: v.get("models", {}).get(model, {}) for k, v in tv.items()}, get

    rows = [("resnet20-int8-step", "qat4j-resnet20-int8.json", "resnet20", "train"),
            ("resnet20-int8-infer", "qat4j-resnet20-int8.json", "resnet20", "infer"),
            ("toynet-cfg1-star-step", "qat4j-toynet-cfg1-star.json", "toynet", "train"),
            ("mobilenetv2-cfg1-star-step", "qat4j-mobilenetv2-cfg1-star.json", "mobilenetv2", "train")]
    lines, info = [], []
    for name, qfile, model, phase in rows:
        q = load(qfile)
        per_variant = {}
        for k, v in tv.items():
            e = v.get("models", {}).get(model)
            if e is not None:
                per_variant[k] = e
        best, notes = pick_fastest(per_variant, lambda e: e[phase]["median_ms"]
                                   if e.get("status") == "ok" and phase in e else None)
        figures = ", ".join(f"{k} {e[phase]['median_ms']:.3f} ms" for k, e in sorted(per_variant.items())
                            if e.get("status") == "ok" and phase in e)
        if q is None or best is None:
            info.append(f"NO-RATIO {name}: " + ("no qat4j figure" if q is None else "no torch variant finished")
                        + (f" ({'; '.join(notes)})" if notes else ""))
            continue
        a_ms = q["phases"][phase]["median_ms"]
        lines.append(f"RATIO {name}-vs-torch-{best[0]} {q.get('backend', 'cuda')} {a_ms:.3f} {best[1]:.3f} "
                     f"{a_ms / best[1]:.3f}")
        info.append(f"  {name}: torch {figures}; ratio against {best[0]} ({which(notes)})"
                    + (f"; not finished: {'; '.join(notes)}" if notes else ""))
    # the epoch: train + evaluation seconds, medians over the epochs after the first, in ms
    q = load("qat4j-epoch-resnet20-int8.json")
    per_variant = {k: v.get("epoch", {}).get("resnet20") for k, v in tv.items() if v.get("epoch", {}).get("resnet20")}
    best, notes = pick_fastest(per_variant, lambda e: e["median"]["total_ms"] if e.get("status") == "ok" else None)
    if q is None or best is None:
        info.append("NO-RATIO resnet20-int8-epoch: " + ("no qat4j figure" if q is None else "no torch variant finished")
                    + (f" ({'; '.join(notes)})" if notes else ""))
    else:
        a_ms = q["median"]["total_ms"]
        lines.append(f"RATIO resnet20-int8-epoch-vs-torch-{best[0]} {q.get('backend', 'cuda')} {a_ms:.3f} "
                     f"{best[1]:.3f} {a_ms / best[1]:.3f}")
        e = per_variant[best[0]]
        if (e.get("train_images"), e.get("test_images")) != (q.get("train_images"), q.get("test_images")):
            info.append(f"WARNING resnet20-int8-epoch: qat4j timed {q.get('train_images')} + {q.get('test_images')} "
                        f"images, torch {e.get('train_images')} + {e.get('test_images')}: not the same work")
        figures = ", ".join(f"{k} {e['median']['train_s']:.3f}+{e['median']['eval_s']:.3f} s"
                            for k, e in sorted(per_variant.items()) if e.get("status") == "ok")
        info.append(f"  resnet20-int8-epoch (train + eval of {q.get('train_images')} + {q.get('test_images')} images, "
                    f"{q.get('data')} data): qat4j {q['median']['train_s']:.3f}+{q['median']['eval_s']:.3f} s; "
                    f"torch {figures}; ratio against {best[0]} ({which(notes)})"
                    + (f"; not finished: {'; '.join(notes)}" if notes else ""))
    with open(os.path.join(outdir, "ratios.txt"), "w") as f:
        f.write("\n".join(lines) + ("\n" if lines else ""))
    print("\n".join(lines))
    print("\n".join(info))
    for k, v in sorted(tv.items()):
        for m, e in sorted(v.get("models", {}).items()):
            if "first_train_step_s" in e and k == "compiled":
                print(f"  compile time {m}: first train step {e['first_train_step_s']:.1f} s"
                      + (f", first inference {e['first_infer_s']:.1f} s" if "first_infer_s" in e else ""))
    print(f"  torch {t.get('torch')} on {t.get('device')}, compile mode {t.get('compile_mode')}, "
          f"precision {t.get('precision')}")
    return 0


# ------------------------------------------------------------------------------------------------ main

def main():
    argv = sys.argv[1:]
    cmd = argv[0] if argv and argv[0] in ("child", "ratios", "params") else "run"
    if cmd != "run":
        argv = argv[1:]
    if cmd == "ratios":
        return ratios(argv[0] if argv else ".")
    if cmd == "params":
        _import_torch()
        for m in MODELS:
            check_params(m, build(m))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--variants", default="eager,compiled")
    ap.add_argument("--variant", default="eager")  # child only
    ap.add_argument("--compile-mode", default="max-autotune")
    ap.add_argument("--precision", choices=["fp32", "tf32"], default="fp32")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--infer", default="resnet20", help="models whose inference is timed too ('none': none)")
    ap.add_argument("--epoch", action="store_true", help="time whole ResNet20 epochs too")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train-images", type=int, default=50000)
    ap.add_argument("--test-images", type=int, default=10000)
    ap.add_argument("--data", help="CIFAR-10 binary folder (cifar-10-batches-bin); random images without it")
    ap.add_argument("--budget", type=float, default=200, help="seconds for everything (driver)")
    ap.add_argument("--eager-timeout", type=float, default=90)
    ap.add_argument("--compile-timeout", type=float, default=150, help="seconds per compiled model, compile included")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--fake-compile", action="store_true",
                    help="test only: the compiled variant with torch.compile replaced by the identity")
    ap.add_argument("--json", required=True)
    a = ap.parse_args(argv)
    a.models = [m for m in a.models.split(",") if m]
    a.variants = [v for v in a.variants.split(",") if v]
    a.infer = [m for m in a.infer.split(",") if m and m != "none"]
    for m in a.models:
        if m not in MODELS:
            ap.error(f"unknown model {m} (known: {', '.join(MODELS)})")
    if cmd == "child":
        child(a)
    else:
        driver(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
