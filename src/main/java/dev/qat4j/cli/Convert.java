package dev.qat4j.cli;

import dev.qat4j.backend.Backend;
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
@Command(name = "convert", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Turn a trained QAT checkpoint into an integer model (.qim) and print its hardware report.",
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:done", "1:internal error (a bug; --verbose prints the stack trace)", "2:bad option, "
            + "unreadable checkpoint, an output that exists or a model the integer path cannot represent"})
final class Convert implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, paramLabel = "FILE",
            description = "a .qck written by qat4j train (required)")
    Path checkpoint;
    @Option(names = "--out", required = true, paramLabel = "FILE",
            description = "the integer model file to write, .qim (required; its folder must exist)")
    Path out;
    @Option(names = "--overwrite", description = "replace an existing --out file (default off: refused)")
    boolean overwrite;
    @Option(names = "--model", description = "refuse a checkpoint of any other model: toynet, mobilenetv2 or resnet20 "
            + "(default: accept any)")
    String model;
    @Option(names = "--format", paramLabel = "F", description = "requantization: dyadicM (M = 8..32) or ap_fixed<W,I>, "
            + "optionally /ROUNDING, or a seed path (see int-eval --help); a .qim cannot hold the seed's float32 stem, "
            + "so save seed paths with -stem, e.g. seed<32,10>-stem (default dyadic32/half_even, the exact mode)")
    String format;
    @Option(names = "--seed-compatible", description = "the seed's ToyNet integer path (as --format seed<32,10>, "
            + "which has the seed's stem: refused here; use --format seed<32,10>-stem) (default off)")
    boolean seedCompatible;
    @Option(names = "--accumulator-bias", description = "round each conv's bias to whole accumulator units, as int8 "
            + "hardware and ONNX Runtime's QLinearConv hold it (default off: biases at the requantization's resolution)")
    boolean accumulatorBias;
    @Option(names = "--backend", description = "ref, cpu or cuda, for the float prefix (default: QAT4J_BACKEND or the "
            + "best available)")
    String backend;
    @Option(names = "--end-to-end", description = "refuse (exit 2, nothing written) a model that is not integer from "
            + "input to logits, naming the float layer and the preset that fixes it (default off: convert, and say so)")
    boolean endToEnd;

    @Override
    public Integer call() throws IOException {
        Checks.inputFile("--checkpoint", checkpoint);
        Checks.outputFile("--out", out, overwrite, "--overwrite");
        if (out.toAbsolutePath().normalize().equals(checkpoint.toAbsolutePath().normalize())) {
            throw new UserError("--out " + out + " is the --checkpoint itself; write the integer model to another file");
        }
        IntegerConverter.Options options = ModelLoading.options(format, seedCompatible);
        if (accumulatorBias) {
            options = options.withAccumulatorBias();
        }
        Backend b = Checks.backend(backend);
        TaskProgress progress = TaskProgress.of("convert", "", false);
        try (QuantModel m = ModelLoading.load(checkpoint, model, b)) {
            progress.phase("converting " + checkpoint + " (" + m.name() + ")");
            IntegerModel im = IntegerConverter.convert(m, options);
            if (endToEnd && !im.isEndToEnd()) {
                throw new UserError("--end-to-end: the integer model of " + checkpoint + " (" + m.name() + ") is not integer end to end: " + im.floatPrefixReason()
                        + endToEndHint(m.name()) + "; nothing written");
            }
            progress.phase("writing " + out);
            IntegerModelIO.write(out, im);
            print(im, out);
            return 0;
        }
    }

    /** "; " and the converter's end-to-end hint for the seed's models; else "". */
    private static String endToEndHint(String model) {
        String hint = IntegerConverter.endToEndHint(model);
        return hint == null ? "" : "; " + hint;
    }

    static void print(IntegerModel im, Path out) {
        StringBuilder prefix = new StringBuilder();
        for (Module p : im.prefix()) {
            prefix.append(prefix.length() == 0 ? "" : ", ").append(p.name());
        }
        IntValue first = im.values().get(0);
        System.out.printf(Locale.ROOT, "%s: integer model of %s, requantization %s%n", out, im.model(), im.format());
        if (im.isEndToEnd()) {
            System.out.printf(Locale.ROOT, "  integer from input to logits: the input is %s's %d-bit codes of the "
                    + "normalised image (or uint8 pixels through its code table)%n", prefix, first.bits());
        } else {
            System.out.printf(Locale.ROOT, "  float prefix: %s (up to the first quantizer every path crosses)%n", prefix);
            System.out.printf(Locale.ROOT, "  not integer end to end: %s%s%n", im.floatPrefixReason(),
                    endToEndHint(im.model()));
        }
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
