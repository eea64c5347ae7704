package dev.qat4j.experiments;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.models.BitWidths;
import dev.qat4j.quant.ActQuantizer;

/**
 * One row of the seed's tables: the network it trained (model, bit-width preset, activation quantizer kind, ResNet20's
 * branch-output switch), the recipe, and the accuracy the seed reports (null where it reports none, e.g. a run that
 * did not converge). {@code choice} says how an ambiguous cell of the seed's table was read.
 *
 * @param act the activation quantizer kind, or null for the preset's own (full-precision rows)
 */
public record Experiment(String id, String table, String model, String bits, ActQuantizer.Kind act,
                         boolean branchOutputQuant, Recipe recipe, Double seedAccuracy, Double seedIntegerAccuracy,
                         String seedRow, String choice, String note) {

    /** The bit widths this experiment trains with (validated when the experiment list is read). */
    public BitWidths bitWidths() {
        BitWidths b = BitWidths.preset(model, bits);
        if (act != null) {
            b = b.withActivationKind(act);
        }
        return b.withBranchOutputQuant(branchOutputQuant);
    }

    /** What is quantized how, e.g. {@code int8 dorefa, no branch-output quant}. */
    public String quantization() {
        return bits + (act == null ? "" : " " + BitWidths.kindName(act)) + (branchOutputQuant ? "" : ", no branch-output quant");
    }

    /** The row as {@code qat4j experiments --json} prints it. */
    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("id", id).put("table", table).put("model", model).put("bits", bits)
            .put("act", act == null ? null : BitWidths.kindName(act)).put("branch_out_quant", branchOutputQuant);
        o.set("recipe", recipe.toJson());
        o.put("seed_accuracy", seedAccuracy);
        if (seedIntegerAccuracy != null) {
            o.put("seed_integer_accuracy", seedIntegerAccuracy);
        }
        o.put("seed_row", seedRow);
        if (choice != null) {
            o.put("choice", choice);
        }
        if (note != null) {
            o.put("note", note);
        }
        return o;
    }
}
