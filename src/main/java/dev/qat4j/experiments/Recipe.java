package dev.qat4j.experiments;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.models.BitWidths;
import java.util.List;
import java.util.Locale;

/**
 * How the seed trains ({@code algorithms.md} A6): SGD with momentum and weight decay on every parameter, a cosine
 * learning rate from {@code lr} to {@code etaMin} stepped per epoch, the mPACT penalty λΣα², and random crop (pad 4)
 * plus horizontal flip. {@link #seedDefault(String)} is the seed's recipe per model, which {@code qat4j train} uses
 * for every option not given.
 */
public record Recipe(int epochs, int batchSize, float lr, float etaMin, int warmupEpochs, float momentum,
                     float weightDecay, float alphaPenalty, boolean augment) {
    /** The recipe fields as JSON keys, in the order {@link #toJson()} writes them (the experiment file uses them). */
    public static final List<String> KEYS = List.of("epochs", "batch_size", "lr", "schedule", "eta_min",
        "warmup_epochs", "momentum", "weight_decay", "alpha_penalty", "augmentation");

    /**
     * The seed's recipe for {@code model}: 300 epochs, lr cosine to 1e-3, momentum 0.9, weight decay 5e-4, α penalty
     * 2e-4, crop + flip; batch 128 at lr 0.01 for ToyNet and MobileNetV2, batch 256 at lr 0.1 for ResNet20 (the
     * seed's ResNet20 QAT recipe, commit 4c135a3).
     */
    public static Recipe seedDefault(String model) {
        boolean resnet = BitWidths.RESNET20.equals(model);
        return new Recipe(300, resnet ? 256 : 128, resnet ? 0.1f : 0.01f, 1e-3f, 0, 0.9f, 5e-4f, 2e-4f, true);
    }

    /** One line, e.g. {@code 300 epochs, batch 128, lr 0.01 cosine to 0.001, momentum 0.9, wd 0.0005, α² 0.0002, crop4+flip}. */
    public String describe() {
        return String.format(Locale.ROOT, "%d epochs, batch %d, lr %s cosine to %s%s, momentum %s, wd %s, α² %s, %s",
            epochs, batchSize, num(lr), num(etaMin), warmupEpochs > 0 ? ", warm-up " + warmupEpochs : "", num(momentum),
            num(weightDecay), num(alphaPenalty), augment ? "crop4+flip" : "no augmentation");
    }

    static String num(float v) {
        return new java.math.BigDecimal(Float.toString(v)).stripTrailingZeros().toPlainString();
    }

    public ObjectNode toJson() {
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("epochs", epochs).put("batch_size", batchSize).put("lr", lr).put("schedule", "cosine")
            .put("eta_min", etaMin).put("warmup_epochs", warmupEpochs).put("momentum", momentum)
            .put("weight_decay", weightDecay).put("alpha_penalty", alphaPenalty)
            .put("augmentation", augment ? "crop4+flip" : "none");
        return o;
    }

    /** The recipe of a JSON object with every key of {@link #KEYS}; {@code where} names the source in errors. */
    public static Recipe fromJson(JsonNode o, String where) {
        if (o == null || !o.isObject()) {
            throw new IllegalArgumentException(where + ": recipe must be an object with " + String.join(", ", KEYS));
        }
        for (String k : KEYS) {
            if (!o.has(k)) {
                throw new IllegalArgumentException(where + ": recipe has no '" + k + "'");
            }
        }
        o.fieldNames().forEachRemaining(k -> {
            if (!KEYS.contains(k)) {
                throw new IllegalArgumentException(where + ": unknown recipe key '" + k + "' (known: "
                    + String.join(", ", KEYS) + ")");
            }
        });
        if (!"cosine".equals(o.get("schedule").asText())) {
            throw new IllegalArgumentException(where + ": schedule '" + o.get("schedule").asText()
                + "' is not supported (only the seed's cosine)");
        }
        String aug = o.get("augmentation").asText();
        if (!aug.equals("crop4+flip") && !aug.equals("none")) {
            throw new IllegalArgumentException(where + ": augmentation '" + aug + "' must be crop4+flip or none");
        }
        return new Recipe(intOf(o, "epochs", where), intOf(o, "batch_size", where), (float) o.get("lr").asDouble(),
            (float) o.get("eta_min").asDouble(), intOf(o, "warmup_epochs", where), (float) o.get("momentum").asDouble(),
            (float) o.get("weight_decay").asDouble(), (float) o.get("alpha_penalty").asDouble(), aug.equals("crop4+flip"));
    }

    private static int intOf(JsonNode o, String key, String where) {
        JsonNode v = o.get(key);
        if (!v.canConvertToInt() || !v.isIntegralNumber()) {
            throw new IllegalArgumentException(where + ": recipe '" + key + "' must be an integer, not " + v);
        }
        return v.intValue();
    }
}
