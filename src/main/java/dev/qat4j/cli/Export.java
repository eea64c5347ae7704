package dev.qat4j.cli;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.integer.IntegerModel;
import dev.qat4j.integer.IntegerModelIO;
import dev.qat4j.integer.export.BlobExport;
import dev.qat4j.integer.export.CGoldenExport;
import dev.qat4j.integer.export.OnnxExport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code qat4j export --model MODEL.qim --blobs DIR --c DIR}: the integer model for hardware. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Export an integer model (.qim from qat4j convert): binary blobs + manifest.json, a C99 golden "
            + "model, an ONNX QDQ model.",
        exitCodeListHeading = "Exit codes:%n",
        exitCodeList = {"0:done", "1:unexpected error", "2:bad arguments, unreadable model or an output that exists"})
final class Export implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "an integer model written by qat4j convert")
    Path model;
    @Option(names = "--blobs", description = "folder for the little-endian blobs and manifest.json (docs/integer-export.md)")
    Path blobs;
    @Option(names = "--c", description = "folder for the C99 golden model (<name>.c/.h, <name>_weights.h, <name>_main.c)")
    Path c;
    @Option(names = "--c-name", defaultValue = "qat4j_model", description = "base name of the C files (default ${DEFAULT-VALUE})")
    String cName;
    @Option(names = "--onnx", description = "an ONNX file of the whole network in QDQ form (ONNX Runtime loads it)")
    Path onnx;
    @Option(names = "--overwrite", description = "replace existing output folders")
    boolean overwrite;

    @Override
    public Integer call() {
        if (blobs == null && c == null && onnx == null) {
            System.err.println("qat4j export: nothing to do: give --blobs DIR, --c DIR and/or --onnx FILE");
            return 2;
        }
        Backend b = Backends.byName("ref"); // the float prefix's parameters live here; export reads them only
        try (IntegerModel im = IntegerModelIO.read(model, b)) {
            if (blobs != null) {
                BlobExport.write(im, blobs, overwrite);
                System.out.println("blobs + manifest: " + blobs);
            }
            if (c != null) {
                CGoldenExport.write(im, c, cName, overwrite);
                System.out.println("C99 golden model: " + c.resolve(cName + ".c") + " (driver " + cName + "_main.c)");
            }
            if (onnx != null) {
                if (java.nio.file.Files.exists(onnx) && !overwrite) {
                    System.err.println("qat4j export: " + onnx + " exists (use --overwrite to replace it)");
                    return 2;
                }
                OnnxExport.write(im, b, onnx);
                System.out.println("ONNX (QDQ): " + onnx);
            }
            return 0;
        } catch (IOException | IllegalArgumentException | IllegalStateException e) {
            System.err.println("qat4j export: " + e.getMessage());
            return 2;
        }
    }
}
