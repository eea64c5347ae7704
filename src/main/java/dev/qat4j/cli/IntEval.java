package dev.qat4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.DataNotFoundException;
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
@Command(name = "int-eval", mixinStandardHelpOptions = true,
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
        exitCodeList = {"0:done", "1:unexpected error", "2:bad arguments, unreadable checkpoint, missing data or a "
            + "model the integer path cannot represent"})
final class IntEval implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, description = "a .qck file written by qat4j train")
    Path checkpoint;
    @Option(names = "--model", description = "refuse a checkpoint of any other model")
    String model;
    @Option(names = "--format", description = "requantization of the compared integer model: dyadicM, ap_fixed<W,I> "
            + "(optionally /ROUNDING) or a seed path seed<W,I>[-DEV|+DEV...] (default dyadic32, exact)")
    String format;
    @Option(names = "--seed-compatible", description = "the seed's ToyNet integer path for the compared model: stem and "
            + "header fixed<32,16>, blocks ap_fixed<32,10> (or the ap_fixed<W,I> of --format), every deviation on; "
            + "same as --format seed<32,10>")
    boolean seedCompatible;
    @Option(names = "--sweep", split = ",(?![^<]*>)", description = "comma-separated entries of the sweep table, "
            + "formats or seed paths (default: dyadic32, dyadic24, dyadic16, ap_fixed<32,16>, <32,10>, <24,10>, "
            + "<16,8>, <16,6>, seed<32,10>, seed<16,8>, seed<16,6>); 'none' for no sweep")
    List<String> sweep;
    @Option(names = "--png", description = "write the sweep as a bar chart PNG")
    Path png;
    @Option(names = "--data", description = "CIFAR-10 folder or archive (default: QAT4J_DATA, then ~/.cache/qat4j/cifar10)")
    String data;
    @Option(names = "--limit-test", description = "only the first N test images")
    Integer limitTest;
    @Option(names = "--batch-size", defaultValue = "100")
    int batchSize;
    @Option(names = "--backend", description = "ref, cpu or cuda")
    String backend;
    @Option(names = "--json", description = "print every figure as one JSON object on stdout")
    boolean json;

    @Override
    public Integer call() {
        Backend b;
        Dataset test;
        Map<String, IntegerConverter.Options> formats;
        IntegerConverter.Options compared;
        QuantModel m;
        try {
            b = backend != null ? Backends.byName(backend) : Backends.get();
            formats = sweepFormats();
            compared = ModelLoading.options(format, seedCompatible); // bad formats fail before the data is read
            test = Cifar10.load(DataOption.locate(data, false), Split.TEST);
            if (limitTest != null) {
                test = test.take(limitTest);
            }
            m = ModelLoading.load(checkpoint, model, b);
        } catch (IOException | DataNotFoundException | IllegalArgumentException | IllegalStateException e) {
            System.err.println("qat4j int-eval: " + e.getMessage());
            return 2;
        }
        try (m) {
            IntegerModel im;
            try {
                im = IntegerConverter.convert(m, compared);
            } catch (IllegalArgumentException e) {
                System.err.println("qat4j int-eval: " + e.getMessage());
                return 2;
            }
            IntegerEval eval = new IntegerEval(m, b, batchSize);
            long t0 = System.nanoTime();
            IntegerEval.Result r = eval.compare(im, test);
            if (!json) {
                printResult(im, r, (System.nanoTime() - t0) / 1e9);
            }
            List<IntegerEval.SweepRow> rows = eval.sweep(new ArrayList<>(formats.values()));
            List<HardwareReport.Row> hw = HardwareReport.rows(im, r);
            if (png != null && !rows.isEmpty()) {
                try {
                    SweepChart.write(png, m.name(), rows);
                } catch (LinkageError | RuntimeException | IOException e) { // e.g. a runtime without java.desktop
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
            out.put(f, ModelLoading.sweepEntry(f));
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
