package dev.qat4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.qat4j.experiments.Experiment;
import dev.qat4j.experiments.SeedExperiments;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code qat4j experiments}: every row of the seed's tables, with its recipe and the seed's accuracy. */
@Command(name = "experiments", mixinStandardHelpOptions = true,
        description = {"List every row of the seed's CIFAR-10 tables: id, model, quantization, recipe, the seed's "
            + "accuracy.", "Run one with `qat4j train --experiment ID`; compare runs with `qat4j report RUN_DIR...`."})
final class Experiments implements Callable<Integer> {
    @Option(names = "--json", description = "every row as a JSON array, with the seed's row name and how "
            + "ambiguous cells were read (default off: a table)")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (json) {
            ArrayNode a = new ObjectMapper().createArrayNode();
            SeedExperiments.all().forEach(e -> a.add(e.toJson()));
            System.out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(a));
            return 0;
        }
        System.out.printf(Locale.ROOT, "%-28s %-12s %-36s %-18s %s%n", "id", "model", "quantization", "seed %", "recipe");
        String table = null;
        for (Experiment e : SeedExperiments.all()) {
            if (!e.table().equals(table)) {
                table = e.table();
                System.out.println();
            }
            String acc = e.seedAccuracy() == null ? "none" : String.format(Locale.ROOT, "%.3f", e.seedAccuracy());
            if (e.seedIntegerAccuracy() != null) {
                acc += String.format(Locale.ROOT, ", int %.2f", e.seedIntegerAccuracy());
            }
            System.out.printf(Locale.ROOT, "%-28s %-12s %-36s %-18s %s%n", e.id(), e.model(), e.quantization(), acc,
                e.recipe().describe());
        }
        System.out.println("\n" + SeedExperiments.all().size() + " experiments; `--json` adds the seed's row names and "
            + "how ambiguous cells were read");
        return 0;
    }
}
