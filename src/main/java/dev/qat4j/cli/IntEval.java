package dev.qat4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.backend.Backend;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Split;
import dev.qat4j.integer.HardwareReport;
import dev.qat4j.integer.IntegerConverter;
import dev.qat4j.integer.IntegerEval;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.models.QuantModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code qat4j int-eval --checkpoint CKPT}: the fake-quant model and its integer model side by side on the CIFAR-10
 * test set (accuracy, top-1 agreement, per-layer differences in LSBs), the hardware report, and a sweep over
 * requantization formats (text, PNG, JSON).
 */
@Command(name = "int-eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Compare a QAT checkpoint's fake-quant model with its integer model on the CIFAR-10 test set.",
        exitCodeListHeading = "Exit codes:%n",
        footerHeading = "%nSweep entries and --format:%n",
        footer = {"  dyadicM             M-bit mantissa per multiplier (M = 8..32)",
            "  ap_fixed<W,I>       one fixed-point format for every layer (F = W - I)",
            "  .../ROUNDING        half_even (default), half_up, half_away_from_zero,",
            "                      toward_zero, floor",
            "  seed<W,I>           the seed's ToyNet integer path (algorithms.md A4):",
            "                      stem, header, pool rescale fixed<32,16>; only the",
            "                      layers inside blocks at ap_fixed<W,I>; seed = seed<32,10>",
            "  seed<W,I>-DEV / +DEV",
            "                      that path with a seed deviation switched off / on,",
            "                      left to right from all on (e.g. seed<32,10>-trunc,",
            "                      seed<32,10>-all+stem); DEV is one of",
            "                      trunc, lowclamp, fixm, fixb, f32, stem, pool, bnconv,",
            "                      all (docs/seed-integer-simulation.md)"},
        exitCodeList = {"0:done", "1:internal error (a bug; --verbose prints the stack trace)", "2:bad option, "
            + "unreadable checkpoint, missing data, an output that exists or a model the integer path cannot represent"})
final class IntEval implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, paramLabel = "FILE",
            description = "a .qck written by qat4j train (required)")
    Path checkpoint;
    @Option(names = "--model", description = "refuse a checkpoint of any other model (default: accept any)")
    String model;
    @Option(names = "--format", paramLabel = "F", description = "requantization of the compared integer model: "
            + "dyadicM, ap_fixed<W,I> (optionally /ROUNDING) or a seed path seed<W,I>[-DEV|+DEV...] (default dyadic32, "
            + "exact)")
    String format;
    @Option(names = "--seed-compatible", description = "the seed's ToyNet integer path for the compared model: stem and "
            + "header fixed<32,16>, blocks ap_fixed<32,10> (or the ap_fixed<W,I> of --format), every deviation on; "
            + "same as --format seed<32,10> (default off)")
    boolean seedCompatible;
    @Option(names = "--accumulator-bias", description = "round each conv's bias to whole accumulator units, as int8 "
            + "hardware and ONNX Runtime's QLinearConv hold it (default off: biases at the requantization's resolution)")
    boolean accumulatorBias;
    // the commas inside ap_fixed<W,I> do not split
    @Option(names = "--sweep", paramLabel = "F", split = ",(?![^<]*>)", splitSynopsisLabel = ",",
            description = "comma-separated entries of the sweep table, formats or seed paths (default: dyadic32, "
            + "dyadic24, dyadic16, ap_fixed<32,16>, <32,10>, <24,10>, <16,8>, <16,6>, seed<32,10>, seed<16,8>, "
            + "seed<16,6>); 'none' for no sweep")
    List<String> sweep;
    @Option(names = "--png", paramLabel = "FILE", description = "write the sweep as a bar chart PNG (default: none)")
    Path png;
    @Option(names = "--overwrite", description = "replace an existing --png file (default off: refused)")
    boolean overwrite;
    @Option(names = "--limit-test", paramLabel = "N", description = "only the first N test images (default: all 10,000)")
    Integer limitTest;
    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "100",
            description = "images per batch (default ${DEFAULT-VALUE})")
    int batchSize;
    @Option(names = "--backend", description = "ref, cpu or cuda (default: QAT4J_BACKEND or the best available)")
    String backend;
    @picocli.CommandLine.Mixin
    DataOption data = new DataOption();
    @Option(names = "--json", description = "print every figure as one JSON object on stdout (default off)")
    boolean json;

    @Override
    public Integer call() throws IOException {
        Checks.positive("--batch-size", batchSize);
        Checks.positive("--limit-test", limitTest);
        Checks.inputFile("--checkpoint", checkpoint);
        Map<String, IntegerConverter.Options> formats = sweepFormats();
        if (png != null) {
            if (!png.toString().toLowerCase(Locale.ROOT).endsWith(".png")) {
                throw new UserError("--png " + png + ": the chart file must end in .png");
            }
            if (formats.isEmpty()) {
                throw new UserError("--png " + png + " draws the sweep, and --sweep none asks for none");
            }
            Checks.outputFile("--png", png, overwrite, "--overwrite");
        }
        IntegerConverter.Options compared = ModelLoading.options(format, seedCompatible);
        if (accumulatorBias) {
            compared = compared.withAccumulatorBias();
        }
        Backend b = Checks.backend(backend);
        try (QuantModel m = ModelLoading.load(checkpoint, model, b)) {
            IntegerModel im = IntegerConverter.convert(m, compared); // a model it cannot represent fails before the data
            Dataset test = Cifar10.load(data.locate(json), Split.TEST);
            if (limitTest != null) {
                test = test.take(limitTest);
            }
            IntegerEval eval = new IntegerEval(m, b, batchSize);
            long t0 = System.nanoTime();
            int total = test.size();
            TaskProgress compareProgress = TaskProgress.of("int-eval", "images", json);
            IntegerEval.Result r;
            try {
                r = eval.compare(im, test, done -> compareProgress.update(done, total));
            } finally {
                compareProgress.finish();
            }
            if (!json) {
                printResult(im, r, (System.nanoTime() - t0) / 1e9);
            }
            TaskProgress sweepProgress = TaskProgress.of("sweep", "formats", json);
            List<IntegerEval.SweepRow> rows;
            try {
                rows = eval.sweep(new ArrayList<>(formats.values()), done -> sweepProgress.update(done, formats.size()));
            } finally {
                sweepProgress.finish();
            }
            List<HardwareReport.Row> hw = HardwareReport.rows(im, r);
            if (png != null && !rows.isEmpty()) {
                try {
                    OutputFiles.replace(png, tmp -> SweepChart.write(tmp, m.name(), rows));
                } catch (LinkageError | RuntimeException e) { // e.g. a runtime without java.desktop
                    System.err.println("sweep chart not written (" + e + ")");
                    png = null;
                }
            }
            if (json) {
                System.out.println(toJson(im, r, rows, hw));
                return 0;
            }
            System.out.printf("%nhardware report (accumulators seen on these %d images)%n", r.images());
            Convert.printHardware(hw, true);
            if (!rows.isEmpty()) {
                System.out.printf("%nrequantization format sweep (fake-quant accuracy %.2f%%)%n", 100 * r.fakeAccuracy());
                System.out.printf("%-36s %9s %10s %7s%n", "format", "accuracy", "agreement", "drop");
                for (IntegerEval.SweepRow s : rows) {
                    if (s.error() != null) {
                        System.out.printf("%-36s cannot represent the model: %s%n", s.format(), s.error());
                    } else {
                        System.out.printf(Locale.ROOT, "%-36s %8.2f%% %9.2f%% %7.2f%n", s.format(),
                                100 * s.intAccuracy(), 100 * s.agreement(), s.dropPoints());
                    }
                }
            }
            if (png != null) {
                System.out.println("chart: " + png);
            }
            return 0;
        }
    }

    private Map<String, IntegerConverter.Options> sweepFormats() {
        if (sweep == null) {
            return IntegerEval.standardSweep();
        }
        Map<String, IntegerConverter.Options> out = new LinkedHashMap<>();
        for (String f : sweep) {
            if (f.equalsIgnoreCase("none")) {
                continue;
            }
            try {
                out.put(f, ModelLoading.sweepEntry(f));
            } catch (IllegalArgumentException e) {
                throw new UserError("--sweep " + f + ": " + e.getMessage(), e);
            }
        }
        return out;
    }

    private void printResult(IntegerModel im, IntegerEval.Result r, double seconds) {
        System.out.printf(Locale.ROOT, "%s (%s), %d test images, integer model %s (%.0f s)%n", checkpoint, im.model(),
                r.images(), im.format(), seconds);
        System.out.printf(Locale.ROOT, "  fake-quant accuracy %6.2f%%%n", 100 * r.fakeAccuracy());
        System.out.printf(Locale.ROOT, "  integer accuracy    %6.2f%%  (drop %.2f points)%n", 100 * r.intAccuracy(),
                r.dropPoints());
        System.out.printf(Locale.ROOT, "  top-1 agreement     %6.2f%%%n%n", 100 * r.agreement());
        System.out.println("per layer: largest |integer code - fake-quant code| (LSB) and how many codes differ");
        for (IntegerEval.LayerStats s : r.layers()) {
            if (s.compared() == 0) {
                continue;
            }
            System.out.printf(Locale.ROOT, "  %-22s %3d LSB  %10d of %11d (%.4f%%)%n", s.name(), s.maxLsbDiff(),
                    s.differing(), s.compared(), 100.0 * s.differing() / s.compared());
        }
    }

    private String toJson(IntegerModel im, IntegerEval.Result r, List<IntegerEval.SweepRow> rows,
                          List<HardwareReport.Row> hw) {
        ObjectMapper om = new ObjectMapper();
        ObjectNode o = om.createObjectNode();
        o.put("checkpoint", checkpoint.toString()).put("model", im.model()).put("format", im.format())
                .put("images", r.images()).put("fake_quant_accuracy", r.fakeAccuracy())
                .put("integer_accuracy", r.intAccuracy()).put("drop_points", r.dropPoints())
                .put("top1_agreement", r.agreement());
        ArrayNode layers = o.putArray("layers");
        for (int i = 0; i < r.layers().size(); i++) {
            IntegerEval.LayerStats s = r.layers().get(i);
            HardwareReport.Row h = hw.get(i);
            ObjectNode l = layers.addObject();
            l.put("name", s.name()).put("op", h.type()).put("max_lsb_diff", s.maxLsbDiff())
                    .put("codes_differing", s.differing()).put("codes_compared", s.compared())
                    .put("weight_bits", h.weightBits()).put("input_bits", h.inputBits())
                    .put("output_bits", h.outputBits()).put("acc_bound", h.accBound())
                    .put("acc_bound_bits", h.accBoundBits()).put("int32_can_overflow", h.int32CanOverflow())
                    .put("acc_seen_min", h.observedMin()).put("acc_seen_max", h.observedMax())
                    .put("weight_memory_bits", h.weightMemoryBits()).put("macs", h.macs())
                    .put("multiplier_bits", h.multiplierBits()).put("shift_min", h.minShift())
                    .put("shift_max", h.maxShift()).put("bias_bits", h.biasBits()).put("layer_format", h.format());
        }
        ArrayNode sw = o.putArray("sweep");
        for (IntegerEval.SweepRow s : rows) {
            ObjectNode n = sw.addObject().put("format", s.format());
            if (s.error() != null) {
                n.put("error", s.error());
            } else {
                n.put("integer_accuracy", s.intAccuracy()).put("top1_agreement", s.agreement())
                        .put("drop_points", s.dropPoints());
            }
        }
        if (png != null) {
            o.put("chart", png.toString());
        }
        return o.toString();
    }
}
