package dev.qat4j.cli;

import dev.qat4j.backend.Backends;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.nn.LayerInfo;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code qat4j summary --model NAME [--bits PRESET|FILE]}: the per-layer table and the seed-convention totals. */
@Command(name = "summary", mixinStandardHelpOptions = true, sortOptions = false, description = "Print a model's layers, parameters, MADDs and bit widths.")
final class Summary implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "toynet, mobilenetv2 or resnet20 (required)")
    String model;

    @Option(names = "--bits", description = "a bit-width preset (e.g. cfg1, fp32) or a YAML/JSON file (default fp32)")
    String bits = "fp32";

    @Option(names = "--json", description = "print the table and totals as one JSON object on stdout (default off)")
    boolean json;

    @Override
    public Integer call() {
        try (QuantModel m = Models.build(model, BitWidths.resolve(model, bits), Backends.reference(), 0)) {
            if (json) {
                com.fasterxml.jackson.databind.ObjectMapper om = new com.fasterxml.jackson.databind.ObjectMapper();
                com.fasterxml.jackson.databind.node.ObjectNode o = om.createObjectNode();
                o.put("model", model).put("bits", bits).put("params", m.paramCount()).put("madds", m.maddCount());
                o.putPOJO("abit", m.bits().abit());
                o.putPOJO("wbit", m.bits().wbit());
                com.fasterxml.jackson.databind.node.ArrayNode layers = o.putArray("layers");
                for (LayerInfo r : m.summary()) {
                    com.fasterxml.jackson.databind.node.ObjectNode l = layers.addObject();
                    l.put("name", r.name()).put("type", r.type()).put("params", r.params()).put("madds", r.madds());
                    l.putPOJO("output", r.outShape());
                    if (r.weightBits() != 0) {
                        l.put("weight_bits", r.weightBits());
                    }
                    if (r.activationBits() != 0) {
                        l.put("activation_bits", r.activationBits());
                    }
                }
                System.out.println(o);
                return 0;
            }
            String fmt = "%-28s %-26s %-16s %12s %14s %5s %5s%n";
            System.out.printf(fmt, "layer", "type", "output", "params", "MADDs", "w", "a");
            long params = 0, madds = 0;
            for (LayerInfo r : m.summary()) {
                System.out.printf(fmt, r.name(), r.type(), Arrays.toString(r.outShape()).replace(" ", ""),
                        String.format("%,d", r.params()), String.format("%,d", r.madds()),
                        r.weightBits() == 0 ? "" : Integer.toString(r.weightBits()),
                        r.activationBits() == 0 ? "" : Integer.toString(r.activationBits()));
                params += r.params();
                madds += r.madds();
            }
            System.out.printf("%ntotal: %,d parameters (α excluded, as the seed counts), %,d MADDs%n", params, madds);
            System.out.println("bits:  abit=" + Arrays.toString(m.bits().abit()) + " wbit=" + Arrays.toString(m.bits().wbit()));
        }
        return 0;
    }
}
