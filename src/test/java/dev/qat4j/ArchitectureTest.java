package dev.qat4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Package rules from the README's architecture section, checked on the sources. */
class ArchitectureTest {
    private static final Path MAIN = Path.of("src/main/java/dev/qat4j");

    private static List<Path> sourcesImporting(String prefix) throws IOException {
        try (Stream<Path> files = Files.walk(MAIN)) {
            return files.filter(p -> p.toString().endsWith(".java")).filter(p -> {
                try {
                    return Files.readAllLines(p).stream().anyMatch(l -> l.startsWith("import " + prefix));
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            }).collect(Collectors.toList());
        }
    }

    @Test
    void onlyNativeBackendPackagesImportJavaCpp() throws IOException {
        List<Path> importers = sourcesImporting("org.bytedeco");
        assertTrue(!importers.isEmpty(), "the cpu backend does use JavaCPP: the scan must find it");
        for (Path p : importers) {
            String rel = MAIN.relativize(p).toString();
            assertTrue(rel.startsWith("backend/cpu/") || rel.startsWith("backend/cuda/"), rel + " imports org.bytedeco");
        }
    }

    @Test
    void onlyTheCliImportsPicocli() throws IOException {
        for (Path p : sourcesImporting("picocli")) {
            assertEquals("cli", MAIN.relativize(p).getName(0).toString(), p + " imports picocli");
        }
    }

    @Test
    void onlyFileFormatPackagesImportJackson() throws IOException {
        List<Path> importers = sourcesImporting("com.fasterxml");
        assertTrue(!importers.isEmpty(), "bit-width files are read with Jackson: the scan must find it");
        for (Path p : importers) {
            String rel = MAIN.relativize(p).toString().replace('\\', '/');
            String top = MAIN.relativize(p).getName(0).toString();
            // integer's file formats are JSON too: the .qim graph (IntegerModelIO) and the export's manifest.json;
            // experiments reads the experiment list and writes run.json
            assertTrue(top.equals("models") || top.equals("cli") || top.equals("checkpoint") || top.equals("experiments")
                    || rel.equals("integer/IntegerModelIO.java") || rel.startsWith("integer/export/"),
                    p + " imports Jackson");
        }
    }

    @Test
    void numericalPackagesDoNotDependOnModelsTrainingOrTheCli() throws IOException {
        // tensor, backend, quant and nn are the embeddable core: they must not reach up into what is built on them.
        List<String> core = List.of("tensor", "backend", "quant", "nn");
        for (String pkg : new String[] {"dev.qat4j.models", "dev.qat4j.cli", "dev.qat4j.train", "dev.qat4j.checkpoint",
            "dev.qat4j.data", "dev.qat4j.experiments"}) {
            for (Path p : sourcesImporting(pkg)) {
                String top = MAIN.relativize(p).getName(0).toString();
                assertTrue(!core.contains(top), p + " imports " + pkg);
            }
        }
        for (Path p : sourcesImporting("dev.qat4j.cli")) {
            assertEquals("cli", MAIN.relativize(p).getName(0).toString(), p + " imports the CLI");
        }
    }
}
