package dev.qat4j.bench;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.backend.Op;
import dev.qat4j.backend.OpSample;
import dev.qat4j.tensor.Tensor;
import java.util.List;
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
 * Every op of the op list ({@link Op}: JMH runs each enum constant, so a new op is timed without editing this file)
 * on {@link OpSample.Size#LARGE} operands: a ResNet20 first-stage layer at batch 32 (conv 16 -> 16 channels, 32x32).
 * {@code -p backend=ref} times the reference instead; {@code -p op=CONV2D,ADD} picks ops.
 *
 * <p>Settings: 1 fork, 2 warm-up and 3 measured iterations of 1 s: 29 ops in about 3 minutes, enough to see an op
 * move by tens of percent on this noisy 2-core host (the figures are for finding regressions, not for the README).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Thread)
public class OpBenchmark {
    @Param
    public Op op;

    @Param({"cpu"})
    public String backend;

    private OpSample sample;

    @Setup(Level.Trial)
    public void setup() {
        Backend b = Backends.byName(backend);
        sample = OpSample.of(op, b, OpSample.Size.LARGE, 1);
        List<Tensor> once = sample.run(); // checks the op runs on these operands before timing it
        once.forEach(Tensor::close);
    }

    @Benchmark
    public int run() {
        List<Tensor> out = sample.run();
        int n = out.size();
        out.forEach(Tensor::close);
        return n;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        sample.close();
    }
}
