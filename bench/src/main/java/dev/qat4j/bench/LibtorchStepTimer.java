package dev.qat4j.bench;

import static org.bytedeco.pytorch.global.torch.abs;
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
 * The libtorch peer of {@link StepTimer} for the side-by-side harness ({@code bench/compare.sh}): the seed's ResNet20
 * with the same fake-quant placement as qat4j's {@code int8} preset (as {@code bench/torch_resnet20_qat.py}): DoReFa
 * weights {@code tanh(w)/max|tanh(w)|} fake-quantized to 8 bits, activations {@code clamp(0.1x, 0, 1)} to 8 bits
 * with {@code fake_quantize_per_tensor_affine}, FC weights at 16 bits; one step = forward, cross-entropy, backward,
 * SGD (momentum 0.9, weight decay 5e-4); infer = eval forward without autograd. Batch 128 of random images, on the
 * CPU through {@code org.bytedeco:pytorch} (a bench-only dependency).
 *
 * <pre>java -cp bench/target/benchmarks.jar dev.qat4j.bench.LibtorchStepTimer [--threads N] [--steps 5] [--warmup 2]</pre>
 * Output: {@code STEP resnet20:int8 libtorch <phase> median_ms <m> p10_ms <a> p90_ms <b> steps <n>}.
 */
public final class LibtorchStepTimer {
    private final List<Tensor> params = new ArrayList<>();
    private final List<Tensor[]> bnStats = new ArrayList<>();
    private int bnIndex;
    private boolean training = true;

    private LibtorchStepTimer() {
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
        if (convIndex == convW.size()) {
            convW.add(param(cout, cin, k, k));
        }
        Tensor w = convW.get(convIndex++);
        return conv2d(x, quant ? quantWeight(w, 8) : w, new TensorOptional(), new long[] {stride, stride},
                new long[] {k / 2, k / 2}, new long[] {1, 1}, 1);
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
        if (fcW == null) {
            fcW = param(10, 64);
            fcB = torchZeros(10);
            fcB.set_requires_grad(true);
            params.add(fcB);
        }
        return linear(pooled, quantWeight(fcW, 16), fcB);
    }

    public static void main(String[] args) {
        int threads = 0, steps = 5, warmup = 2, batch = 128;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(args[i + 1]);
                case "--steps" -> steps = Integer.parseInt(args[i + 1]);
                case "--warmup" -> warmup = Integer.parseInt(args[i + 1]);
                case "--batch" -> batch = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (threads > 0) {
            set_num_threads(threads);
        }
        manual_seed(1);
        LibtorchStepTimer net = new LibtorchStepTimer();
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
        report("train", train);
        report("infer", infer);
        System.out.println("libtorch threads: " + org.bytedeco.pytorch.global.torch.get_num_threads());
    }

    private static void report(String phase, double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        System.out.printf(Locale.ROOT, "STEP resnet20:int8 libtorch %s median_ms %.3f p10_ms %.3f p90_ms %.3f steps %d%n",
                phase, s[s.length / 2], s[s.length / 10], s[(s.length * 9) / 10], s.length);
    }
}
