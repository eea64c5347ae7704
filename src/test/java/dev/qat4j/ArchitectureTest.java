package dev.qat4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Package rules from the README's architecture section, checked on the sources. A source depends on what it imports
 * and on every qualified name written in its code ({@code dev.qat4j.backend.ref.RefKernels.f(...)} inline, without an
 * import); comments (Javadoc {@code {@link ...}} included), string and char literals and text blocks do not count.
 */
class ArchitectureTest {
    private static final Path MAIN = Path.of("src/main/java/dev/qat4j");

    /** The concrete backends: only the backend packages reach them; everything else goes through Backends. */
    private static final List<String> CONCRETE_BACKENDS = List.of("backend.cpu", "backend.cuda", "backend.ref");

    /** A main source: its path, its package relative to dev.qat4j ("" for the root, "integer.export") and its code. */
    private record Source(Path path, String pkg, String code) {
        String rel() {
            return MAIN.relativize(path).toString().replace('\\', '/');
        }

        boolean in(String root) {
            return under(pkg, root);
        }

        /** The dev.qat4j packages (relative, e.g. "backend.ref") this source imports or names in its code. */
        Set<String> qat4jPackages() {
            return ArchitectureTest.qat4jPackages(code);
        }

        boolean references(String prefix) {
            return ArchitectureTest.references(code, prefix);
        }
    }

    private static List<Source> sources;

    private static synchronized List<Source> sources() {
        if (sources == null) {
            try (Stream<Path> files = Files.walk(MAIN)) {
                sources = files.filter(p -> p.toString().endsWith(".java")).sorted().map(p -> {
                    try {
                        Path dir = MAIN.relativize(p).getParent();
                        String pkg = dir == null ? "" : dir.toString().replace('\\', '/').replace('/', '.');
                        return new Source(p, pkg, codeOnly(Files.readString(p)));
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }).collect(Collectors.toList());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            assertTrue(sources.size() > 50, "the scan must find the main sources, found " + sources.size());
        }
        return sources;
    }

    static boolean under(String pkg, String root) {
        return pkg.equals(root) || pkg.startsWith(root + ".");
    }

    private static final Pattern PACKAGE_DECLARATION = Pattern.compile("^\\s*package\\s+[\\w.]+\\s*;",
            Pattern.MULTILINE);
    /** dev.qat4j then its lower-case segments: the package part of a qualified name (classes start upper case). */
    private static final Pattern QAT4J_NAME = Pattern.compile(
            "(?<![\\w$.])dev\\s*\\.\\s*qat4j((?:\\s*\\.\\s*[a-z_][a-z0-9_]*(?![\\w$]))*)");

    /** The dev.qat4j packages named in {@code code} (comments and literals already blanked), relative to dev.qat4j. */
    static Set<String> qat4jPackages(String code) {
        Set<String> out = new TreeSet<>();
        Matcher m = QAT4J_NAME.matcher(PACKAGE_DECLARATION.matcher(code).replaceAll(""));
        while (m.find()) {
            String rest = m.group(1).replaceAll("\\s", "");
            out.add(rest.isEmpty() ? "" : rest.substring(1));
        }
        return out;
    }

    /** Whether {@code code} imports or names anything under the package {@code prefix} (e.g. "org.bytedeco"). */
    static boolean references(String code, String prefix) {
        String p = Pattern.quote(prefix).replace(".", "\\E\\s*\\.\\s*\\Q");
        return Pattern.compile("(?<![\\w$.])" + p + "(?![\\w$])").matcher(code).find();
    }

    /**
     * {@code java} with every comment, string literal, text block and char literal replaced by spaces (line breaks
     * kept), so that what is left is code: imports, declarations and qualified names written in it.
     */
    static String codeOnly(String java) {
        StringBuilder out = new StringBuilder(java.length());
        int n = java.length();
        int i = 0;
        while (i < n) {
            char c = java.charAt(i);
            int end;
            if (c == '/' && i + 1 < n && java.charAt(i + 1) == '/') {
                end = java.indexOf('\n', i);
                end = end < 0 ? n : end;
            } else if (c == '/' && i + 1 < n && java.charAt(i + 1) == '*') {
                end = java.indexOf("*/", i + 2);
                end = end < 0 ? n : end + 2;
            } else if (java.startsWith("\"\"\"", i)) {
                end = literalEnd(java, i + 3, "\"\"\"");
            } else if (c == '"' || c == '\'') {
                end = literalEnd(java, i + 1, String.valueOf(c));
            } else {
                out.append(c);
                i++;
                continue;
            }
            for (int k = i; k < end; k++) {
                out.append(java.charAt(k) == '\n' ? '\n' : ' ');
            }
            i = end;
        }
        return out.toString();
    }

    /** The index after the {@code close} that ends a literal whose content starts at {@code from} (escapes skipped). */
    private static int literalEnd(String java, int from, String close) {
        int i = from;
        while (i < java.length()) {
            if (java.charAt(i) == '\\') {
                i += 2;
            } else if (java.startsWith(close, i)) {
                return i + close.length();
            } else if (close.length() == 1 && java.charAt(i) == '\n') {
                return i; // an unterminated one-line literal: javac would refuse it; stop at the line's end
            } else {
                i++;
            }
        }
        return java.length();
    }

    private static List<Source> referencing(String prefix) {
        return sources().stream().filter(s -> s.references(prefix)).collect(Collectors.toList());
    }

    /** Every source under {@code pkg} that depends on a package under one of {@code forbidden}, as messages. */
    private static List<String> violations(String pkg, List<String> forbidden) {
        List<String> out = new ArrayList<>();
        for (Source s : sources()) {
            if (!s.in(pkg)) {
                continue;
            }
            for (String used : s.qat4jPackages()) {
                for (String f : forbidden) {
                    if (under(used, f) && !under(used, pkg)) {
                        out.add(s.rel() + " depends on dev.qat4j." + used);
                    }
                }
            }
        }
        return out;
    }

    @Test
    void scannerSeesQualifiedNamesInCodeButNotInCommentsOrLiterals() {
        String code = codeOnly(String.join("\n",
                "package dev.qat4j.integer;",
                "import dev.qat4j.quant.Rounding;",
                "import static dev.qat4j.tensor.Shape.str;",
                "/** Calls {@link dev.qat4j.models.QuantModel#name()} and {@linkplain dev.qat4j.train.Trainer x}. */",
                "class X { // dev.qat4j.cli.Main is not used",
                "  /* dev.qat4j.data.Cifar10 neither */",
                "  String s = \"dev.qat4j.experiments.Recipe \\\" dev.qat4j.checkpoint.Checkpoint\";",
                "  String t = \"\"\"",
                "      dev.qat4j.nn.Module \"\" dev.qat4j.nn.Step",
                "      \"\"\";",
                "  char q = '\"'; char e = '\\'';",
                "  int[] r = dev.qat4j.backend.ref.RefKernels.requantizeResidual(a, b);",
                "  Object o = dev.qat4j.integer.export.OnnxExport.class;",
                "  Object v = dev.qat4j.Version.get();",
                "  Object w = dev . qat4j . backend . cuda . CudaBackend.get();",
                "  Object m = mydev.qat4j.models.Models.x; Object n = a.dev.qat4j.data.Dataset.y;",
                "}"));
        assertEquals(Set.of("quant", "tensor", "backend.ref", "integer.export", "", "backend.cuda"),
                qat4jPackages(code), code);
        assertTrue(references(code, "dev.qat4j.backend.ref"));
        assertTrue(!references(code, "dev.qat4j.backend.re"), "a package name is matched whole");
        assertTrue(!references(code, "dev.qat4j.models"), "Javadoc links do not count");
        assertEquals(17, code.lines().count(), "line breaks are kept");
    }

    @Test
    void onlyNativeBackendPackagesUseJavaCpp() {
        List<Source> users = referencing("org.bytedeco");
        assertTrue(!users.isEmpty(), "the cpu backend does use JavaCPP: the scan must find it");
        for (Source s : users) {
            assertTrue(s.in("backend.cpu") || s.in("backend.cuda"), s.rel() + " uses org.bytedeco");
        }
    }

    @Test
    void onlyTheCliUsesPicocli() {
        for (Source s : referencing("picocli")) {
            assertTrue(s.in("cli"), s.rel() + " uses picocli");
        }
    }

    @Test
    void onlyFileFormatPackagesUseJackson() {
        List<Source> users = referencing("com.fasterxml");
        assertTrue(!users.isEmpty(), "bit-width files are read with Jackson: the scan must find it");
        for (Source s : users) {
            String rel = s.rel();
            // integer's file formats are JSON too: the .qim graph (IntegerModelIO) and the export's manifest.json;
            // experiments reads the experiment list and writes run.json
            assertTrue(s.in("models") || s.in("cli") || s.in("checkpoint") || s.in("experiments")
                    || rel.equals("integer/IntegerModelIO.java") || s.in("integer.export"), rel + " uses Jackson");
        }
    }

    @Test
    void numericalPackagesDoNotDependOnModelsTrainingOrTheCli() {
        // tensor, backend, quant and nn are the embeddable core: they must not reach up into what is built on them.
        List<String> above = List.of("models", "cli", "train", "checkpoint", "data", "experiments", "integer");
        List<String> problems = new ArrayList<>();
        for (String core : List.of("tensor", "backend", "quant", "nn")) {
            problems.addAll(violations(core, above));
        }
        assertEquals(List.of(), problems);
        for (Source s : sources()) {
            assertTrue(s.in("cli") || s.qat4jPackages().stream().noneMatch(p -> under(p, "cli")),
                    s.rel() + " depends on the CLI");
        }
    }

    @Test
    void theCheckpointFormatDependsOnNothingBuiltOnIt() {
        // checkpoint is the file format (Checkpoint, CheckpointIO, the header, its exceptions); putting a model into
        // a checkpoint and back is models.ModelState
        assertEquals(List.of(), violations("checkpoint",
                List.of("models", "nn", "train", "cli", "integer", "experiments")));
    }

    @Test
    void onlyBackendPackagesReachConcreteBackends() {
        // the CLI, integer, nn, models, train (everything outside backend) use Backend and Backends only
        List<String> problems = new ArrayList<>();
        for (Source s : sources()) {
            if (s.in("backend")) {
                continue;
            }
            for (String used : s.qat4jPackages()) {
                if (CONCRETE_BACKENDS.stream().anyMatch(b -> under(used, b))) {
                    problems.add(s.rel() + " depends on dev.qat4j." + used);
                }
            }
        }
        assertEquals(List.of(), problems, "outside backend, go through dev.qat4j.backend.Backends");
    }

    @Test
    void onlyBackendsUseTheTensorInternals() {
        // creating a tensor over raw storage, reaching its storage and marking its quantization grid are for backends
        List<String> problems = new ArrayList<>();
        for (Source s : sources()) {
            if (s.in("backend") || s.in("tensor")) {
                continue;
            }
            if (s.qat4jPackages().stream().anyMatch(p -> under(p, "tensor.internal"))) {
                problems.add(s.rel() + " uses dev.qat4j.tensor.internal");
            }
        }
        assertEquals(List.of(), problems, "tensor.internal is for the backend packages only");
    }

    @Test
    void noPublicStaticArrays() {
        // a public static array is a global anyone can write to: hand out copies (QuantModel.inputShape()) or Lists
        Pattern field = Pattern.compile("\\b(?:public\\s+(?:final\\s+)?static|static\\s+(?:final\\s+)?public)"
                + "\\s+(?:final\\s+)?[\\w.$<>]+\\s*(?:\\[\\s*])+\\s*\\w+\\s*[=;]");
        for (Source s : sources()) {
            Matcher m = field.matcher(s.code());
            if (m.find()) {
                fail(s.rel() + " has a public static array: " + m.group());
            }
        }
    }
}
