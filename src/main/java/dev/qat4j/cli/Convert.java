package dev.qat4j.cli;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.integer.HardwareReport;
import dev.qat4j.integer.IntValue;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.integer.IntegerModelIO;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.Module;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code qat4j convert --checkpoint CKPT --out MODEL.qim}: the integer model of a trained QAT model. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Turn a trained QAT checkpoint into an integer model (.qim) and print its hardware report.",
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:done", "1:unexpected error", "2:bad arguments, unreadable checkpoint or a model the "
            + "integer path cannot represent"})
final class Convert implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, description = "a .qck file written by qat4j train")
    Path checkpoint;
    @Option(names = "--out", required = true, description = "the integer model file to write (.qim)")
    Path out;
    @Option(names = "--model", description = "refuse a checkpoint of any other model (toynet, mobilenetv2, resnet20)")
    String model;
    @Option(names = "--format", description = "requantization: dyadicM (M = 8..32) or ap_fixed<W,I>, optionally "
            + "/ROUNDING (default dyadic32/half_even, the exact mode), or a seed path (see int-eval --help); a .qim "
            + "cannot hold the seed's float32 stem, so save seed paths with -stem, e.g. seed<32,10>-stem")
    String format;
    @Option(names = "--seed-compatible", description = "the seed's ToyNet integer path (as --format seed<32,10>, "
            + "which has the seed's stem: refused here; use --format seed<32,10>-stem)")
    boolean seedCompatible;
    @Option(names = "--backend", description = "ref, cpu or cuda (for the float prefix)")
    String backend;

    @Override
    public Integer call() {
        try {
            Backend b = backend != null ? Backends.byName(backend) : Backends.get();
            try (QuantModel m = ModelLoading.load(checkpoint, model, b)) {
                IntegerModel im = IntegerConverter.convert(m, ModelLoading.options(format, seedCompatible));
                IntegerModelIO.write(out, im);
                print(im, out);
                return 0;
            }
        } catch (IOException | IllegalArgumentException | IllegalStateException e) {
            System.err.println("qat4j convert: " + e.getMessage());
            return 2;
        }
    }

    static void print(IntegerModel im, Path out) {
        StringBuilder prefix = new StringBuilder();
        for (Module p : im.prefix()) {
            prefix.append(prefix.length() == 0 ? "" : ", ").append(p.name());
        }
        IntValue first = im.values().get(0);
        System.out.printf(Locale.ROOT, "%s: integer model of %s, requantization %s%n", out, im.model(), im.format());
        System.out.printf(Locale.ROOT, "  float prefix: %s (up to the first quantizer every path crosses)%n", prefix);
        System.out.printf(Locale.ROOT, "  integer part: %d layers from %s codes [%d, %d] to int64 logits (x %.3g)%n%n",
                im.layers().size(), first.name(), first.lo(), first.hi(), im.logitScale());
        printHardware(HardwareReport.rows(im, null), false);
    }

    static void printHardware(List<HardwareReport.Row> rows, boolean observed) {
        System.out.printf("%-20s %-22s %3s %3s %3s %15s %4s %5s %s%9s %10s %5s %7s %4s  %s%n", "layer", "op", "w", "in",
                "out", "acc bound", "bits", "int32", observed ? String.format("%25s ", "acc seen [min, max]") : "",
                "w mem b", "MACs/img", "mult", "shift", "bias", "format");
        long mem = 0, macs = 0;
        for (HardwareReport.Row r : rows) {
            mem += r.weightMemoryBits();
            macs += r.macs();
            System.out.printf(Locale.ROOT, "%-20s %-22s %3s %3d %3d %15d %4d %5s %s%9d %10d %5s %7s %4s  %s%n",
                    r.layer(), r.type(), r.weightBits() == 0 ? "-" : String.valueOf(r.weightBits()), r.inputBits(),
                    r.outputBits(), r.accBound(), r.accBoundBits(), r.int32CanOverflow() ? "OVF" : "ok",
                    observed ? String.format("%25s ", "[" + r.observedMin() + ", " + r.observedMax() + "]") : "",
                    r.weightMemoryBits(), r.macs(), r.multiplierBits() == 0 ? "-" : String.valueOf(r.multiplierBits()),
                    r.multiplierBits() == 0 ? "-" : r.minShift() + ".." + r.maxShift(),
                    r.biasBits() == 0 ? "-" : String.valueOf(r.biasBits()), r.format());
        }
        System.out.printf(Locale.ROOT, "total: %d weight bits (%.1f KiB), %d integer MACs per image; int32 = OVF: the "
                + "worst case needs int64%n", mem, mem / 8192.0, macs);
    }
}
