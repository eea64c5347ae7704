package dev.qat4j.bench;

import static org.bytedeco.pytorch.global.torch.abs;
import static org.bytedeco.pytorch.global.torch.adaptive_avg_pool2d;
import static org.bytedeco.pytorch.global.torch.avg_pool2d;
import static org.bytedeco.pytorch.global.torch.batch_norm;
import static org.bytedeco.pytorch.global.torch.clamp;
import static org.bytedeco.pytorch.global.torch.conv2d;
import static org.bytedeco.pytorch.global.torch.cross_entropy_loss;
import static org.bytedeco.pytorch.global.torch.fake_quantize_per_tensor_affine;
import static org.bytedeco.pytorch.global.torch.flatten;
import static org.bytedeco.pytorch.global.torch.linear;
import static org.bytedeco.pytorch.global.torch.manual_seed;
import static org.bytedeco.pytorch.global.torch.max;
import static org.bytedeco.pytorch.global.torch.randn;
import static org.bytedeco.pytorch.global.torch.relu;
import static org.bytedeco.pytorch.global.torch.relu6;
import static org.bytedeco.pytorch.global.torch.set_num_threads;
import static org.bytedeco.pytorch.global.torch.tanh;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.NoGradGuard;
import org.bytedeco.pytorch.SGD;
import org.bytedeco.pytorch.SGDOptions;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.ScalarOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;

/**
 * The libtorch peer of {@link StepTimer} for the side-by-side harness ({@code bench/compare.sh}): one of qat4j's
 * networks written in libtorch's functional style with the same fake-quant placement as qat4j's preset
 * ({@code Models}, {@code BitWidths}); one step = forward, cross-entropy, backward, SGD (momentum 0.9, weight decay
 * 5e-4); infer = eval forward without autograd. Batch 128 of random images, on the CPU through
 * {@code org.bytedeco:pytorch} (a bench-only dependency). BatchNorm runs in training mode during the step.
 * <ul>
 * <li>{@code --model resnet20 --bits int8} (default), as the {@code resnet20} twin of {@code bench/torch_qat_twins.py}: DoReFa weights
 *     {@code tanh(w)/max|tanh(w)|} fake-quantized to 8 bits, activations {@code clamp(0.1x, 0, 1)} to 8 bits with
 *     {@code fake_quantize_per_tensor_affine}, FC weights at 16 bits, stem float.</li>
 * <li>{@code --model toynet --bits cfg1-star}: input unquantized (abit[0] = 32), stem conv3x3 3-&gt;16 + BN + mPACT(8,
 *     α 6); 10 ConvNeXt-style blocks (downsample BN -&gt; conv s x s /s -&gt; mPACT where the shape changes; dw3x3 -&gt;
 *     BN -&gt; mPACT -&gt; 1x1 x4 -&gt; ReLU -&gt; mPACT -&gt; 1x1; add; mPACT), mPACT α 10 at 8 bits; header conv1x1
 *     64-&gt;512 + BN + mPACT(16, α 6); adaptive avg pool; mPACT(16, α 6); FC 512-&gt;10; every weight DoReFa 8 bits.</li>
 * <li>{@code --model mobilenetv2 --bits cfg1-star}: stem conv3x3 3-&gt;32 (float weights) + BN + ReLU + mPACT(8);
 *     17 inverted-residual blocks (1x1 -&gt; BN -&gt; ReLU6 -&gt; mPACT; dw3x3/s -&gt; BN -&gt; ReLU6 -&gt; mPACT; 1x1 -&gt; BN;
 *     stride 1: + mPACT(BN(conv1x1 shortcut)), then mPACT; stride 2: mPACT), mPACT α 10, weights 8 bits; the last
 *     block's shortcut and output quantizers are 32 bits (absent); head conv1x1 320-&gt;1280 (16-bit weights) + BN +
 *     ReLU; avg_pool(4); FC 1280-&gt;10 (16-bit weights), its input unquantized (abit[19] = 32).</li>
 * </ul>
 * mPACT is {@code fake_quantize_per_tensor_affine(x, α/S, 0, -S, S)}, S = 2^(b-1)-1 (clamp to ±α, round half to
 * even, as qat4j's). α is a fixed constant here, not a learnable parameter: qat4j also computes each α's gradient
 * (one reduction per quantizer) and updates it in SGD, which this twin leaves out; its cost is small beside the
 * convolutions, and the timing comparison does not need it. Parameter counts (α excluded) equal qat4j's
 * {@code summary}: ResNet20 272,474, ToyNet 203,626, MobileNetV2 2,383,050 (printed as {@code libtorch params}).
 *
 * <pre>java -cp bench/target/benchmarks.jar dev.qat4j.bench.LibtorchStepTimer [--model resnet20|toynet|mobilenetv2]
 *      [--bits int8|cfg1-star] [--threads N] [--steps 5] [--warmup 2] [--batch 128]</pre>
 * Output: {@code STEP <model>:<bits> libtorch <phase> median_ms <m> p10_ms <a> p90_ms <b> steps <n>}.
 */
public final class LibtorchStepTimer {
    private final List<Tensor> params = new ArrayList<>();
    private final List<Tensor[]> bnStats = new ArrayList<>();
    private int bnIndex;
    private boolean training = true;
    private final String model;

    private LibtorchStepTimer(String model) {
        this.model = model;
    }

    private Tensor param(long... shape) {
        Tensor t = randn(shape).mul(new Scalar(Math.sqrt(2.0 / (shape.length > 1 ? shape[1] * (shape.length == 4
                ? shape[2] * shape[3] : 1) : 1))));
        t.set_requires_grad(true);
        params.add(t);
        return t;
    }

    private static Tensor quantWeight(Tensor w, int bits) {
        Tensor t = tanh(w);
        Tensor wn = t.div(max(abs(t)));
        long s = (1L << (bits - 1)) - 1;
        return fake_quantize_per_tensor_affine(wn, 1.0 / s, 0, -s, s);
    }

    private static Tensor quantAct(Tensor x, int bits) {
        long n = (1L << bits) - 1;
        Tensor a = clamp(x.mul(new Scalar(0.1)), new ScalarOptional(new Scalar(0.0)), new ScalarOptional(new Scalar(1.0)));
        return fake_quantize_per_tensor_affine(a, 1.0 / n, 0, 0, n);
    }

    // Parameters are created in forward order on the first (shape-recording) pass.
    private final List<Tensor> convW = new ArrayList<>();
    private final List<Tensor[]> bnW = new ArrayList<>();
    private Tensor fcW, fcB;
    private int convIndex;

    private Tensor conv(Tensor x, long cin, long cout, long k, long stride, boolean quant) {
        return conv(x, cin, cout, k, stride, k / 2, 1, quant ? 8 : 32);
    }

    /** Conv2d without bias, its weights DoReFa-quantized to {@code wbits} (32 = float), as qat4j's QConv2d. */
    private Tensor conv(Tensor x, long cin, long cout, long k, long stride, long pad, long groups, int wbits) {
        if (convIndex == convW.size()) {
            convW.add(param(cout, cin / groups, k, k));
        }
        Tensor w = convW.get(convIndex++);
        return conv2d(x, wbits != 32 ? quantWeight(w, wbits) : w, new TensorOptional(), new long[] {stride, stride},
                new long[] {pad, pad}, new long[] {1, 1}, groups);
    }

    /** mPACT at {@code bits} with a fixed clip α (32 bits: identity, as qat4j's ActQuant). */
    private static Tensor mpact(Tensor x, int bits, double alpha) {
        if (bits == 32) {
            return x;
        }
        long s = (1L << (bits - 1)) - 1;
        return fake_quantize_per_tensor_affine(x, alpha / s, 0, -s, s);
    }

    /** The FC layer (created on the first pass) with DoReFa weights at {@code wbits}. */
    private Tensor fc(Tensor x, long in, long out, int wbits) {
        if (fcW == null) {
            fcW = param(out, in);
            fcB = torchZeros(out);
            fcB.set_requires_grad(true);
            params.add(fcB);
        }
        return linear(x, wbits != 32 ? quantWeight(fcW, wbits) : fcW, fcB);
    }

    private Tensor bn(Tensor x, long c) {
        if (bnIndex == bnW.size()) {
            Tensor g = torchOnes(c), b = torchZeros(c);
            g.set_requires_grad(true);
            b.set_requires_grad(true);
            params.add(g);
            params.add(b);
            bnW.add(new Tensor[] {g, b});
            bnStats.add(new Tensor[] {torchZeros(c), torchOnes(c)});
        }
        Tensor[] gb = bnW.get(bnIndex), rs = bnStats.get(bnIndex);
        bnIndex++;
        return batch_norm(x, new TensorOptional(gb[0]), new TensorOptional(gb[1]), new TensorOptional(rs[0]),
                new TensorOptional(rs[1]), training, 0.1, 1e-5, false);
    }

    private static Tensor torchZeros(long c) {
        return randn(c).mul(new Scalar(0.0));
    }

    private static Tensor torchOnes(long c) {
        return torchZeros(c).add(new Scalar(1.0));
    }

    private Tensor forward(Tensor x) {
        convIndex = 0;
        bnIndex = 0;
        return switch (model) {
            case "toynet" -> toyNet(x);
            case "mobilenetv2" -> mobileNetV2(x);
            default -> resNet20(x);
        };
    }

    private Tensor resNet20(Tensor x) {
        Tensor h = relu(bn(conv(x, 3, 16, 3, 1, false), 16));
        long cin = 16;
        for (int s = 0; s < 3; s++) {
            long cout = 16L << s;
            for (int j = 0; j < 3; j++) {
                long stride = (j == 0 && s > 0) ? 2 : 1;
                Tensor a = quantAct(relu(bn(conv(h, cin, cout, 3, stride, true), cout)), 8);
                Tensor main = bn(conv(a, cout, cout, 3, 1, true), cout);
                Tensor id = (stride != 1 || cin != cout) ? quantAct(bn(conv(h, cin, cout, 1, stride, true), cout), 8) : h;
                h = quantAct(main.add(id), 8);
                cin = cout;
            }
        }
        Tensor pooled = flatten(avg_pool2d(h, 8), 1, -1);
        return fc(pooled, 64, 10, 16);
    }

    // qat4j's cfg1-star bit widths (BitWidths): block i reads abit[i], writes abit[i+1], weights wbit[i].
    private static final int[] TOY_ABIT = {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16};
    private static final int[] TOY_WBIT = {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};
    private static final int[] TOY_WIDTHS = {16, 32, 32, 64}, TOY_DEPTHS = {1, 3, 3, 3}, TOY_STRIDES = {1, 2, 1, 2};
    private static final int[] MBV2_ABIT = {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32};
    private static final int[] MBV2_WBIT = {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 16};
    /** (expansion, out channels, blocks, first stride) per stage, as qat4j's Models.MBV2_CFG. */
    private static final int[][] MBV2_CFG = {{1, 16, 1, 1}, {6, 24, 2, 1}, {6, 32, 3, 2}, {6, 64, 4, 2},
        {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};

    /** qat4j's ToyNet (Models.toyNet); the input quantizer is absent at abit[0] = 32. */
    private Tensor toyNet(Tensor x) {
        int[] a = TOY_ABIT, w = TOY_WBIT;
        Tensor h = mpact(bn(conv(x, 3, 16, 3, 1, 1, 1, w[0]), 16), a[1], 6);
        long cin = 16;
        int block = 1;
        for (int s = 0; s < TOY_WIDTHS.length; s++) {
            for (int j = 0; j < TOY_DEPTHS[s]; j++) {
                long cout = TOY_WIDTHS[s];
                long stride = j == 0 ? TOY_STRIDES[s] : 1;
                int ain = a[block], aout = a[block + 1], wb = w[block];
                Tensor in = h;
                if (stride != 1 || cin != cout) { // downsample before both branches
                    in = mpact(conv(bn(h, cin), cin, cout, stride, stride, 0, 1, wb), ain, 10);
                }
                Tensor m = mpact(bn(conv(in, cout, cout, 3, 1, 1, cout, wb), cout), ain, 10);
                m = mpact(relu(conv(m, cout, 4 * cout, 1, 1, 0, 1, wb)), ain, 10);
                m = conv(m, 4 * cout, cout, 1, 1, 0, 1, wb);
                h = mpact(m.add(in), aout, 10);
                cin = cout;
                block++;
            }
        }
        h = mpact(bn(conv(h, 64, 512, 1, 1, 0, 1, w[11]), 512), a[12], 6);
        Tensor pooled = flatten(mpact(adaptive_avg_pool2d(h, 1, 1), a[12], 6), 1, -1);
        return fc(pooled, 512, 10, w[12]);
    }

    /** qat4j's MobileNetV2 (Models.mobileNetV2). */
    private Tensor mobileNetV2(Tensor x) {
        int[] a = MBV2_ABIT, w = MBV2_WBIT;
        Tensor h = mpact(relu(bn(conv(x, 3, 32, 3, 1, 1, 1, w[0]), 32)), a[1], 10);
        long cin = 32;
        int block = 1;
        for (int[] stage : MBV2_CFG) {
            for (int j = 0; j < stage[2]; j++) {
                long cout = stage[1], planes = stage[0] * cin;
                long stride = j == 0 ? stage[3] : 1;
                int ain = a[block], aout = a[block + 1], wb = w[block];
                Tensor m = mpact(relu6(bn(conv(h, cin, planes, 1, 1, 0, 1, wb), planes)), ain, 10);
                m = mpact(relu6(bn(conv(m, planes, planes, 3, stride, 1, planes, wb), planes)), ain, 10);
                m = bn(conv(m, planes, cout, 1, 1, 0, 1, wb), cout);
                if (stride != 1) {
                    h = mpact(m, aout, 10);
                } else { // a conv shortcut on every stride-1 block, even when cin = cout
                    Tensor sc = mpact(bn(conv(h, cin, cout, 1, 1, 0, 1, wb), cout), aout, 10);
                    h = mpact(m.add(sc), aout, 10);
                }
                cin = cout;
                block++;
            }
        }
        h = relu(bn(conv(h, 320, 1280, 1, 1, 0, 1, w[18]), 1280));
        Tensor pooled = flatten(avg_pool2d(h, 4), 1, -1); // DoReFa FC input at abit[19] = 32: absent
        return fc(pooled, 1280, 10, w[19]);
    }

    public static void main(String[] args) {
        int threads = 0, steps = 5, warmup = 2, batch = 128;
        String model = "resnet20", bits = null;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(args[i + 1]);
                case "--steps" -> steps = Integer.parseInt(args[i + 1]);
                case "--warmup" -> warmup = Integer.parseInt(args[i + 1]);
                case "--batch" -> batch = Integer.parseInt(args[i + 1]);
                case "--model" -> model = args[i + 1];
                case "--bits" -> bits = args[i + 1];
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        String preset = switch (model) {
            case "resnet20" -> "int8";
            case "toynet", "mobilenetv2" -> "cfg1-star";
            default -> throw new IllegalArgumentException("unknown model " + model + " (resnet20, toynet, mobilenetv2)");
        };
        if (bits != null && !bits.equals(preset)) {
            throw new IllegalArgumentException("the " + model + " twin has only the " + preset + " preset, not " + bits);
        }
        String tag = model + ":" + preset;
        if (threads > 0) {
            set_num_threads(threads);
        }
        manual_seed(1);
        LibtorchStepTimer net = new LibtorchStepTimer(model);
        Tensor x = randn(batch, 3, 32, 32);
        Tensor y = org.bytedeco.pytorch.global.torch.remainder(org.bytedeco.pytorch.global.torch.arange(new Scalar(batch)),
                new Scalar(10)); // labels i % 10, int64, as StepTimer
        net.forward(x); // creates the parameters
        SGDOptions o = new SGDOptions(0.01);
        o.momentum().put(0.9);
        o.weight_decay().put(5e-4);
        SGD opt = new SGD(new TensorVector(net.params.toArray(new Tensor[0])), o);
        double[] train = new double[steps], infer = new double[steps];
        for (int i = -warmup; i < steps; i++) {
            long t0, t1, t2;
            // Every tensor a step creates is freed at the end of its scope, as libtorch's C++ frees them when they go
            // out of scope; left to the GC they pile up and the allocator keeps mapping fresh memory.
            try (PointerScope scope = new PointerScope()) {
                t0 = System.nanoTime();
                net.training = true;
                opt.zero_grad();
                Tensor loss = cross_entropy_loss(net.forward(x), y);
                loss.backward();
                opt.step();
                t1 = System.nanoTime();
            }
            try (PointerScope scope = new PointerScope(); NoGradGuard g = new NoGradGuard()) {
                net.training = false;
                net.forward(x);
                t2 = System.nanoTime();
            }
            if (i >= 0) {
                train[i] = (t1 - t0) / 1e6;
                infer[i] = (t2 - t1) / 1e6;
            }
        }
        long n = 0;
        for (Tensor p : net.params) {
            n += p.numel();
        }
        System.out.println("libtorch params: " + n + " (" + tag + ", alpha excluded: fixed constants)");
        report(tag, "train", train);
        report(tag, "infer", infer);
        System.out.println("libtorch threads: " + org.bytedeco.pytorch.global.torch.get_num_threads());
    }

    private static void report(String tag, String phase, double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        System.out.printf(Locale.ROOT, "STEP %s libtorch %s median_ms %.3f p10_ms %.3f p90_ms %.3f steps %d%n",
                tag, phase, s[s.length / 2], s[s.length / 10], s[(s.length * 9) / 10], s.length);
    }
}
