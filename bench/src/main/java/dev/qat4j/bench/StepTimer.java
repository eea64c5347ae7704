package dev.qat4j.bench;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.backend.Results.Loss;
import dev.qat4j.backend.cuda.CudaBackend;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.train.Optimizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Wall-clock timer of one QAT training step (forward, softmax cross-entropy, backward, SGD update with the seed's
 * settings) and of one inference forward (eval mode), batch 128 on random images, on any backend. Prints medians
 * over repeated steps, because GPU timings need a synchronisation that JMH cannot see and this must run where only
 * a bare JRE and the library exist (the GPU machine). The side-by-side scripts run PyTorch the same way.
 *
 * <pre>java -cp ... dev.qat4j.bench.StepTimer --backend cuda --model resnet20 --bits int8 [--batch 128] [--steps 30]
 *      [--warmup 5] [--json FILE] [--profile]</pre>
 *
 * Output lines: {@code STEP <model>:<bits> <backend> <phase> median_ms <m> p10_ms <a> p90_ms <b> steps <n>}, phases
 * {@code train} (whole step, one synchronisation at its end), {@code infer}, and the split of a step into
 * {@code forward}, {@code backward} (loss included) and {@code optimizer} (synchronised after each part). With
 * {@code --profile} on cuda, the GPU time of each op over 5 more steps follows; with {@code --ops} (cpu, ref), the host
 * time of each op per training step (Backend.setOpTimer), so the next bottleneck is visible.
 */
public final class StepTimer {
    private StepTimer() {
    }

    public static void main(String[] args) throws IOException {
        String backendName = "cuda", model = "resnet20", bits = "int8", json = null;
        boolean profile = false, ops = false;
        int batch = 128, steps = 30, warmup = 5;
        for (int i = 0; i < args.length; i++) {
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--backend" -> backendName = v;
                case "--model" -> model = v;
                case "--bits" -> bits = v;
                case "--batch" -> batch = Integer.parseInt(v);
                case "--steps" -> steps = Integer.parseInt(v);
                case "--warmup" -> warmup = Integer.parseInt(v);
                case "--json" -> json = v;
                case "--profile" -> {
                    profile = true;
                    i--; // a flag without a value
                }
                case "--ops" -> {
                    ops = true;
                    i--;
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
            i++;
        }
        Backend b = Backends.byName(backendName);
        System.out.println("backend " + b.name() + ": " + b.description());
        StringBuilder out = new StringBuilder("{\"backend\":\"" + b.name() + "\",\"device\":\"" + b.description()
                + "\",\"model\":\"" + model + "\",\"bits\":\"" + bits + "\",\"batch\":" + batch + ",\"phases\":{");
        try (QuantModel m = Models.build(model, BitWidths.preset(model, bits), b, 1);
             Optimizer opt = Optimizer.seedDefaults(m.parameters())) {
            float[] x = new float[batch * 3 * 32 * 32];
            SplittableRandom r = new SplittableRandom(1);
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            int[] y = new int[batch];
            for (int i = 0; i < batch; i++) {
                y[i] = i % 10;
            }
            try (Tensor images = b.fromFloats(x, batch, 3, 32, 32); Tensor labels = b.fromInts(y, batch)) {
                String tag = model + ":" + bits;
                double[] train = new double[steps], infer = new double[steps];
                double[] fwd = new double[steps], bwd = new double[steps], upd = new double[steps];
                for (int i = -warmup; i < steps; i++) {
                    long t0 = System.nanoTime();
                    trainStep(b, m, opt, images, labels);
                    sync(b);
                    long t1 = System.nanoTime();
                    try (Step s = new Step(b, false)) {
                        m.forward(s, images);
                    }
                    sync(b);
                    long t2 = System.nanoTime();
                    long f0, f1, f2;
                    try (Step s = new Step(b, true)) {
                        Tensor logits = m.forward(s, images);
                        sync(b);
                        f0 = System.nanoTime();
                        try (Loss loss = b.softmaxCrossEntropy(logits, labels, 0f)) {
                            m.backward(s, loss.dlogits());
                            sync(b);
                            f1 = System.nanoTime();
                            opt.step(0.01f);
                            sync(b);
                            f2 = System.nanoTime();
                        }
                    }
                    if (i >= 0) {
                        train[i] = (t1 - t0) / 1e6;
                        infer[i] = (t2 - t1) / 1e6;
                        fwd[i] = (f0 - t2) / 1e6;
                        bwd[i] = (f1 - f0) / 1e6;
                        upd[i] = (f2 - f1) / 1e6;
                    }
                }
                if (profile && b instanceof CudaBackend c) {
                    int n = 5;
                    c.synchronize();
                    c.profileReport(); // drop anything recorded before
                    c.setProfiling(true);
                    for (int i = 0; i < n; i++) {
                        trainStep(b, m, opt, images, labels);
                    }
                    c.setProfiling(false);
                    System.out.println("PROFILE " + tag + ": GPU time per op over " + n + " training steps");
                    System.out.print(c.profileReport());
                }
                if (ops) {
                    // host wall time per op over 5 training steps (cpu/ref: ops are synchronous)
                    OpTimes.measure(b, 5, tag, "host time per training step by op (%d steps, %.1f ms per step)",
                            "(outside ops: Java, GC)", () -> trainStep(b, m, opt, images, labels), () -> sync(b));
                }
                String[] names = {"train", "infer", "forward", "backward", "optimizer"};
                double[][] all = {train, infer, fwd, bwd, upd};
                for (int p = 0; p < names.length; p++) {
                    double[] s = all[p].clone();
                    Arrays.sort(s);
                    double med = s[s.length / 2], p10 = s[s.length / 10], p90 = s[(s.length * 9) / 10];
                    System.out.printf(Locale.ROOT, "STEP %s %s %s median_ms %.3f p10_ms %.3f p90_ms %.3f steps %d%n", tag,
                            b.name(), names[p], med, p10, p90, steps);
                    out.append(p == 0 ? "" : ",").append(String.format(Locale.ROOT,
                            "\"%s\":{\"median_ms\":%.4f,\"p10_ms\":%.4f,\"p90_ms\":%.4f}", names[p], med, p10, p90));
                }
            }
        }
        out.append("}}");
        if (json != null) {
            Files.writeString(Path.of(json), out + "\n");
        }
    }

    private static void sync(Backend b) {
        if (b instanceof CudaBackend c) {
            c.synchronize();
        }
    }

    /** One training step: forward, cross-entropy, backward, SGD (not synchronised). */
    private static void trainStep(Backend b, QuantModel m, Optimizer opt, Tensor images, Tensor labels) {
        try (Step s = new Step(b, true)) {
            Tensor logits = m.forward(s, images);
            try (Loss loss = b.softmaxCrossEntropy(logits, labels, 0f)) {
                m.backward(s, loss.dlogits());
                opt.step(0.01f);
            }
        }
    }
}
