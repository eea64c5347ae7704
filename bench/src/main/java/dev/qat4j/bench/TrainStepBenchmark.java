package dev.qat4j.bench;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Results.Loss;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Step;
import dev.qat4j.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One QAT training step (forward, softmax cross-entropy, backward; no optimizer update yet) of a seed model at batch
 * 128 on the cpu backend, on random images. The anchor: libtorch's ResNet20 step with per-tensor fake-quant takes
 * 349 ms (1T) / 194 ms (2T), SGD included.
 *
 * <p>Settings: 1 fork, 2 warm-up and 5 measured single-shot-sized iterations of 5 s: a step takes 0.5-3 s, so each
 * iteration holds a few steps; enough to show where the time goes, not a precise figure on this noisy host.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 5)
@Measurement(iterations = 5, time = 5)
@Fork(1)
@State(Scope.Thread)
public class TrainStepBenchmark {
    @Param({"resnet20:int8", "toynet:cfg1-star"})
    public String config;

    private final Backend cpu = CpuBackend.get();
    private QuantModel model;
    private Tensor images;
    private Tensor labels;

    @Setup(Level.Trial)
    public void setup() {
        String[] c = config.split(":");
        model = Models.build(c[0], BitWidths.preset(c[0], c[1]), cpu, 1);
        int n = 128;
        float[] x = new float[n * 3 * 32 * 32];
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        int[] y = new int[n];
        for (int i = 0; i < n; i++) {
            y[i] = i % 10;
        }
        images = cpu.fromFloats(x, n, 3, 32, 32);
        labels = cpu.fromInts(y, n);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        model.close();
        images.close();
        labels.close();
    }

    @Benchmark
    public float step() {
        try (Step s = new Step(cpu, true)) {
            Tensor logits = model.forward(s, images);
            try (Loss loss = cpu.softmaxCrossEntropy(logits, labels, 0f)) {
                model.backward(s, loss.dlogits());
                return loss.loss().toFloatArray()[0];
            }
        }
    }
}
