package dev.qat4j.integer.export;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.checkpoint.CheckpointIO;
import dev.qat4j.integer.IntLayer;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.models.ModelState;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.BatchNorm2d;
import dev.qat4j.nn.Module;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Moves each BN β of an end-to-end ResNet20 by the amount the accumulator-bias conversion
 * ({@link IntegerConverter.Options#withAccumulatorBias()}) would move that channel's bias (at most half an accumulator
 * unit, a few thousandths of an output code), so that the exact conversion of the result already has biases in whole
 * accumulator units: its exact integer model is then, up to float32 rounding of β, the one the int8 ONNX form
 * computes. A measurement tool (ResNet20's module names: {@code X.q1} reads {@code X.bn1}, {@code X.out.q}
 * {@code X.bn2}, {@code X.shortcut.q} {@code X.shortcut.bn}, {@code stem.q} {@code stem.bn}), not a library feature.
 *
 * <pre>
 *   mvn -B -o -q test-compile
 *   java -cp target/qat4j.jar:target/test-classes dev.qat4j.integer.export.BiasSnap IN.qck OUT.qck
 * </pre>
 */
final class BiasSnap {
    private BiasSnap() {
    }

    /** Snaps {@code m}'s β in place ({@code rounds} passes); returns the largest move of the last pass, in output codes. */
    static double snap(QuantModel m, Backend b, int rounds) {
        Map<String, Module> modules = new HashMap<>();
        collect(m.net(), modules);
        double worst = 0;
        for (int round = 0; round < rounds; round++) {
            worst = 0;
            try (IntegerModel ex = IntegerConverter.convert(m, IntegerConverter.Options.exact());
                 IntegerModel ac = IntegerConverter.convert(m, IntegerConverter.Options.exact().withAccumulatorBias())) {
                for (int i = 0; i < ex.layers().size(); i++) {
                    IntLayer le = ex.layers().get(i), la = ac.layers().get(i);
                    if (!le.hasConv()) {
                        continue;
                    }
                    BatchNorm2d bn = (BatchNorm2d) modules.get(bnOf(le.name()));
                    if (bn == null) {
                        throw new IllegalArgumentException("no BN feeds quantizer " + le.name());
                    }
                    double scale = ex.values().get(i + 1).scale(); // real value of one output code
                    float[] beta = bn.beta().value().toFloatArray();
                    for (int c = 0; c < beta.length; c++) {
                        double codes = Math.scalb((double) (la.bias()[c] - le.bias()[c]), -le.shift()[c]);
                        worst = Math.max(worst, Math.abs(codes));
                        beta[c] = (float) (beta[c] + codes * scale);
                    }
                    bn.beta().setValue(b.fromFloats(beta, beta.length));
                }
            }
        }
        return worst;
    }

    /** How far the exact conversion's conv biases are from whole accumulator units: the largest, in output codes. */
    static double largestBiasFraction(QuantModel m) {
        double worst = 0;
        try (IntegerModel ex = IntegerConverter.convert(m, IntegerConverter.Options.exact());
             IntegerModel ac = IntegerConverter.convert(m, IntegerConverter.Options.exact().withAccumulatorBias())) {
            for (int i = 0; i < ex.layers().size(); i++) {
                IntLayer le = ex.layers().get(i), la = ac.layers().get(i);
                for (int c = 0; le.hasConv() && c < le.bias().length; c++) {
                    worst = Math.max(worst, Math.abs(Math.scalb((double) (la.bias()[c] - le.bias()[c]), -le.shift()[c])));
                }
            }
        }
        return worst;
    }

    private static String bnOf(String quantizer) {
        if (quantizer.equals("stem.q")) {
            return "stem.bn";
        }
        if (quantizer.endsWith(".q1")) {
            return quantizer.substring(0, quantizer.length() - 3) + ".bn1";
        }
        if (quantizer.endsWith(".out.q")) {
            return quantizer.substring(0, quantizer.length() - 6) + ".bn2";
        }
        if (quantizer.endsWith(".shortcut.q")) {
            return quantizer.substring(0, quantizer.length() - 2) + ".bn";
        }
        return null;
    }

    private static void collect(Module m, Map<String, Module> out) {
        out.put(m.name(), m);
        for (Module c : m.children()) {
            collect(c, out);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: BiasSnap IN.qck OUT.qck");
            System.exit(2);
        }
        Backend b = Backends.byName("cpu");
        Checkpoint c = CheckpointIO.read(Path.of(args[0]));
        try (QuantModel m = ExportFixtures.load(Path.of(args[0]), b)) {
            double before = largestBiasFraction(m);
            double last = snap(m, b, 2);
            System.out.printf("%s: conv biases were up to %.3g output codes from whole accumulator units; moved β "
                    + "(last pass up to %.3g codes); now up to %.3g%n", args[0], before, last, largestBiasFraction(m));
            Map<String, String> meta = new LinkedHashMap<>();
            c.meta().forEach((k, v) -> {
                // the bit widths and input spec are the model's own; the recorded accuracies were measured before
                if (!k.equals(ModelState.BITS_KEY) && !k.equals(dev.qat4j.models.InputSpec.META_KEY)
                        && !k.endsWith("accuracy")) {
                    meta.put(k, String.valueOf(v));
                }
            });
            meta.put("bias_snap", "BN beta moved so that every conv bias is a whole number of accumulator units (from "
                    + args[0] + ")");
            CheckpointIO.write(Path.of(args[1]), ModelState.save(m, meta));
        }
    }
}
