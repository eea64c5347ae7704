package dev.qat4j.cli;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.integer.export.BlobExport;
import dev.qat4j.integer.export.CGoldenExport;
import dev.qat4j.integer.export.OnnxExport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code qat4j export --model MODEL.qim --blobs DIR --c DIR}: the integer model for hardware. */
@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Export an integer model (.qim from qat4j convert): binary blobs + manifest.json, a C99 golden "
            + "model, an ONNX QDQ model.",
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:done", "1:internal error (a bug; --verbose prints the stack trace)",
            "2:bad option, unreadable model or an output that exists"})
final class Export implements Callable<Integer> {
    @Option(names = "--model", required = true, paramLabel = "FILE",
            description = "an integer model (.qim) written by qat4j convert (required)")
    Path model;
    @Option(names = "--blobs", paramLabel = "DIR", description = "folder for the little-endian blobs and manifest.json "
            + "(docs/integer-export.md) (default: none)")
    Path blobs;
    @Option(names = "--c", paramLabel = "DIR", description = "folder for the C99 golden model (<name>.c/.h, "
            + "<name>_weights.h, <name>_main.c) (default: none)")
    Path c;
    @Option(names = "--c-name", defaultValue = "qat4j_model", description = "base name of the C files "
            + "(default ${DEFAULT-VALUE})")
    String cName;
    @Option(names = "--onnx", paramLabel = "FILE", description = "an ONNX file of the whole network in QDQ form "
            + "(ONNX Runtime loads it) (default: none)")
    Path onnx;
    @Option(names = "--overwrite", description = "replace existing output folders and files (default off: refused)")
    boolean overwrite;

    @Override
    public Integer call() throws IOException {
        if (blobs == null && c == null && onnx == null) {
            throw new UserError("nothing to do: give --blobs DIR, --c DIR and/or --onnx FILE");
        }
        Checks.inputFile("--model", model);
        Map<String, Path> outputs = new LinkedHashMap<>();
        if (blobs != null) {
            outputs.put("--blobs", Checks.outputFolder("--blobs", blobs, overwrite));
        }
        if (c != null) {
            outputs.put("--c", Checks.outputFolder("--c", c, overwrite));
        }
        if (onnx != null) {
            outputs.put("--onnx", Checks.outputFile("--onnx", onnx, overwrite, "--overwrite"));
        }
        Map<Path, String> seen = new HashMap<>();
        for (Map.Entry<String, Path> e : outputs.entrySet()) {
            String other = seen.put(e.getValue().toAbsolutePath().normalize(), e.getKey());
            if (other != null) {
                throw new UserError(e.getKey() + " " + e.getValue() + " is also " + other + "'s output; give each "
                        + "output its own path");
            }
        }
        // outputs that do not exist yet are removed again if a later one fails: a failed export leaves nothing new
        List<Path> fresh = new ArrayList<>();
        for (Path p : outputs.values()) {
            if (!Files.exists(p)) {
                fresh.add(p);
            }
        }
        Backend b = Backends.byName("ref"); // the float prefix's parameters live here; export reads them only
        TaskProgress progress = TaskProgress.of("export", "", false);
        boolean done = false;
        try (IntegerModel im = readModel(b)) {
            if (blobs != null) {
                progress.phase("writing blobs to " + blobs);
                BlobExport.write(im, blobs, overwrite);
                System.out.println("blobs + manifest: " + blobs);
            }
            if (c != null) {
                progress.phase("writing the C99 model to " + c);
                CGoldenExport.write(im, c, cName, overwrite);
                System.out.println("C99 golden model: " + c.resolve(cName + ".c") + " (driver " + cName + "_main.c)");
            }
            if (onnx != null) {
                progress.phase("writing ONNX to " + onnx);
                OnnxExport.write(im, b, onnx);
                System.out.println("ONNX (int8 QDQ): " + onnx);
                java.util.List<String> inexact = OnnxExport.inexactResidualLayers(im);
                if (!inexact.isEmpty()) {
                    System.out.println("  note: " + inexact.size() + " residual layer(s) weigh the residual by a "
                            + "non-integer number of output codes (" + String.join(", ", inexact) + "); the int8 form "
                            + "rounds their conv to 8 bits before the add, so their codes differ from the integer "
                            + "model's more often than elsewhere (docs/integer-export.md, ONNX)");
                }
                double biasMove = OnnxExport.largestBiasRounding(im);
                if (biasMove > 1e-6) {
                    System.out.printf(java.util.Locale.ROOT, "  note: the int8 form rounds each conv bias to whole "
                            + "accumulator units (here by up to %.2g of an output code), so ONNX Runtime computes the "
                            + "integer model `qat4j convert --accumulator-bias` makes; a rounded code moves its "
                            + "neighbours' sums, and through the layers some top-1 results differ from this model's "
                            + "(docs/integer-export.md, ONNX)%n", biasMove);
                }
            }
            done = true;
            return 0;
        } finally {
            if (!done) {
                for (Path p : fresh) {
                    deleteTree(p);
                }
            }
        }
    }

    private IntegerModel readModel(Backend b) throws IOException {
        dev.qat4j.checkpoint.Checkpoint container = Checks.readCheckpoint("--model", model);
        try {
            return ModelLoading.loadInteger(container, model, b);
        } catch (dev.qat4j.checkpoint.CheckpointFormatException e) {
            throw new UserError("--model: " + e.getMessage(), e);
        }
    }

    private static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | RuntimeException ignored) { // best effort: the export's own failure is what matters
        }
    }
}
