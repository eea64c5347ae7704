package dev.qat4j.bench;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.backend.IntegerProgram;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.integer.export.OnnxExport;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.tensor.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Wall-clock timer of integer inference of ResNet20 int8-mPACT, batch 128 on random images: qat4j's
 * {@link IntegerModel#logitsOfCodes} ({@code --engine qat4j}, cpu backend, threads from QAT4J_THREADS /
 * OMP_NUM_THREADS) or
 * ONNX Runtime (Java, CPU provider, all graph optimizations) running that model's int8 {@link OnnxExport}
 * ({@code --engine ort}, {@code --threads} intra-op threads, sequential execution) on the images' int8 codes (the
 * export's input: the network-input quantizer runs once, outside the timed loop). One engine per JVM, as compare.sh
 * runs them, so the two thread pools never meet. The int8 export needs a model that is integer end to end (only the
 * input quantizer before its integer part): the ort engine refuses ResNet20 int8-mPACT's FP32 stem.
 *
 * <pre>java -cp bench/target/benchmarks.jar dev.qat4j.bench.OrtInferTimer --engine qat4j|ort [--threads N]
 *      [--steps 10] [--warmup 2] [--checkpoint FILE] [--ops true] [--split-min-macs N]</pre> (--ops: where one integer
 *      forward's time goes, qat4j engine; --split-min-macs: below how many MACs per image a batch smaller than the
 *      thread count runs one image per thread, qat4j engine)
 *
 * The checkpoint defaults to the trained end-to-end one in bench/results/integer/e2e when it exists, else the trained
 * int8-mpact one (random weights of the int8-mpact preset when that is missing too: the same graph, so the same
 * work). Output:
 * {@code STEP resnet20:int8-mpact <engine> int8_infer median_ms <m> p10_ms <a> p90_ms <b> steps <n>}.
 */
public final class OrtInferTimer {
    private static final String E2E_CHECKPOINT = "bench/results/integer/e2e/resnet20-int8-mpact-e2e.qck";
    private static final String DEFAULT_CHECKPOINT = Files.exists(Path.of(E2E_CHECKPOINT)) ? E2E_CHECKPOINT
            : "bench/results/gpu-h200/train/checkpoints/resnet20-int8-mpact.qck";

    private OrtInferTimer() {
    }

    public static void main(String[] args) throws Exception {
        String engine = "ort", checkpoint = DEFAULT_CHECKPOINT;
        int threads = 1, batch = 128, steps = 10, warmup = 2;
        boolean ops = false;
        for (int i = 0; i + 1 < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--engine" -> engine = v;
                case "--threads" -> threads = Integer.parseInt(v);
                case "--batch" -> batch = Integer.parseInt(v);
                case "--steps" -> steps = Integer.parseInt(v);
                case "--warmup" -> warmup = Integer.parseInt(v);
                case "--checkpoint" -> checkpoint = v;
                case "--ops" -> ops = Boolean.parseBoolean(v);
                // the compiled program's split threshold (qat4j_int_program_split_min_macs): 0 splits every conv of
                // a batch smaller than the thread count over the threads
                case "--split-min-macs" -> dev.qat4j.backend.cpu.NativeKernels.qat4j_int_program_split_min_macs(
                        Long.parseLong(v));
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (args.length % 2 != 0) {
            throw new IllegalArgumentException("option " + args[args.length - 1] + " has no value");
        }
        Backend b = Backends.byName("cpu");
        float[] x = new float[batch * 3 * 32 * 32];
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        double[] ms;
        try (QuantModel m = load(b, Path.of(checkpoint));
             IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.exact())) {
            ms = switch (engine) {
                case "qat4j" -> {
                    double[] t = timeQat4j(b, im, x, batch, steps, warmup);
                    if (ops) {
                        printOps(b, im, x, batch);
                    }
                    yield t;
                }
                case "ort" -> timeOrt(b, im, x, batch, threads, steps, warmup);
                default -> throw new IllegalArgumentException("unknown engine " + engine + " (qat4j or ort)");
            };
        }
        Arrays.sort(ms);
        System.out.printf(Locale.ROOT, "STEP resnet20:int8-mpact %s int8_infer median_ms %.3f p10_ms %.3f p90_ms %.3f "
                + "steps %d%n", engine, ms[ms.length / 2], ms[ms.length / 10], ms[(ms.length * 9) / 10], steps);
    }

    private static QuantModel load(Backend b, Path file) throws IOException {
        if (!Files.exists(file)) {
            System.out.println("no checkpoint at " + file + ": random weights of resnet20 int8-mpact");
            return Models.build("resnet20", BitWidths.preset("resnet20", "int8-mpact"), b, 1);
        }
        Checkpoint c = CheckpointIO.read(file);
        QuantModel m = Models.build(c.model(), BitWidths.fromYaml(c.metaString(ModelState.BITS_KEY), c.model(),
                file.toString()), b, 0);
        ModelState.load(m, c);
        return m;
    }

    /**
     * Where one integer forward's time goes. With the compiled program (cpu backend with VNNI): each step's time on one
     * thread over the batch (IntegerProgram.Compiled#stepNanos), summed by kind, every step, slowest first, with its
     * multiply-accumulate rate against the VNNI peak. Otherwise the host time of each backend op over 5 forwards.
     */
    private static void printOps(Backend b, IntegerModel im, float[] x, int batch) {
        IntegerProgram program = im.program();
        try (Tensor images = b.fromFloats(x, batch, 3, 32, 32);
             IntegerProgram.Compiled c = program == null ? null : b.compileIntegerProgram(program)) {
            if (c == null) {
                OpTimes.measure(b, 5, "int8_infer", "host time per forward by op (%d forwards, %.1f ms each)",
                        "(outside ops: Java kernels, GC)", () -> im.logits(b, images), () -> { });
                return;
            }
            byte[] codes = inputCodes(b, im, x, batch);
            c.stepNanos(codes, batch); // warm-up
            long[] ns = c.stepNanos(codes, batch);
            long total = Arrays.stream(ns).sum();
            Map<String, Long> byKind = new java.util.TreeMap<>();
            Map<String, Long> macsByKind = new java.util.TreeMap<>();
            long totalMacs = 0;
            Integer[] order = new Integer[ns.length];
            long[] macs = new long[ns.length];
            for (int i = 0; i < ns.length; i++) {
                order[i] = i;
                var l = im.layers().get(i);
                String kind = l.hasConv() ? (l.hasResidual() ? "conv + requant + residual" : "conv + requant")
                        : l.type().toString().toLowerCase(Locale.ROOT);
                macs[i] = l.macs(im.values().get(i + 1).shape()) * batch;
                totalMacs += macs[i];
                byKind.merge(kind, ns[i], Long::sum);
                macsByKind.merge(kind, macs[i], Long::sum);
            }
            System.out.printf(Locale.ROOT, "OPS int8_infer where one forward's time goes (one thread, batch %d, "
                    + "%.2f ms, %.1f GMAC/s over the whole forward)%n", batch, total / 1e6, totalMacs / (double) total);
            for (var e : byKind.entrySet()) {
                System.out.printf(Locale.ROOT, "OPS   %-28s %8.2f ms %5.1f%%  %.1f GMAC/s%n", e.getKey(),
                        e.getValue() / 1e6, 100.0 * e.getValue() / total,
                        macsByKind.get(e.getKey()) / Math.max(1.0, e.getValue()));
            }
            Arrays.sort(order, (a, bb) -> Long.compare(ns[bb], ns[a]));
            for (int k = 0; k < order.length; k++) {
                int i = order[k];
                System.out.printf(Locale.ROOT, "OPS   step %-22s %8.2f ms %5.1f%%  %.1f GMAC/s%n",
                        im.layers().get(i).name(), ns[i] / 1e6, 100.0 * ns[i] / total, macs[i] / Math.max(1.0, ns[i]));
            }
        }
    }

    /** The images' input codes (the integer model's value 0) as bytes: what both engines are timed on. */
    private static byte[] inputCodes(Backend b, IntegerModel im, float[] x, int batch) {
        try (Tensor images = b.fromFloats(x, batch, 3, 32, 32)) {
            int[] c = im.boundaryCodes(b, images);
            byte[] codes = new byte[c.length];
            for (int i = 0; i < c.length; i++) {
                codes[i] = (byte) c[i];
            }
            return codes;
        }
    }

    /**
     * The integer forward from the images' int8 codes, as ONNX Runtime is timed ({@link IntegerModel#logitsOfCodes}:
     * one native call on the cpu backend); the codes are made once, outside the timing, for both engines.
     */
    private static double[] timeQat4j(Backend b, IntegerModel im, float[] x, int batch, int steps, int warmup) {
        double[] ms = new double[steps];
        byte[] codes = inputCodes(b, im, x, batch);
        for (int i = -warmup; i < steps; i++) {
            long t0 = System.nanoTime();
            im.logitsOfCodes(b, codes, batch);
            if (i >= 0) {
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
        }
        return ms;
    }

    private static double[] timeOrt(Backend b, IntegerModel im, float[] x, int batch, int threads, int steps,
                                    int warmup) throws IOException, OrtException {
        Path file = Files.createTempFile("qat4j-resnet20-int8-mpact", ".onnx");
        try {
            OnnxExport.write(im, b, file);
            OrtEnvironment env = OrtEnvironment.getEnvironment();
            double[] ms = new double[steps];
            try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
                opts.setIntraOpNumThreads(threads);
                opts.setInterOpNumThreads(1);
                opts.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
                opts.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                byte[] codes = inputCodes(b, im, x, batch);
                ByteBuffer buf = ByteBuffer.allocateDirect(codes.length);
                buf.put(codes);
                buf.rewind();
                OnnxJavaType type = im.values().get(0).lo() < 0 ? OnnxJavaType.INT8 : OnnxJavaType.UINT8;
                try (OrtSession session = env.createSession(file.toString(), opts);
                     OnnxTensor images = OnnxTensor.createTensor(env, buf, new long[] {batch, 3, 32, 32}, type)) {
                    System.out.println("onnxruntime " + env.getVersion() + ", " + threads + " intra-op threads");
                    for (int i = -warmup; i < steps; i++) {
                        long t0 = System.nanoTime();
                        try (OrtSession.Result out = session.run(Map.of(OnnxExport.INPUT, images))) {
                            out.get(0); // the logits are in the result: nothing lazy is left to time
                        }
                        if (i >= 0) {
                            ms[i] = (System.nanoTime() - t0) / 1e6;
                        }
                    }
                }
            }
            return ms;
        } finally {
            Files.deleteIfExists(file);
        }
    }
}
