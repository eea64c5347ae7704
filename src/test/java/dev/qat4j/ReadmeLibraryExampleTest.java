package dev.qat4j;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The README's library section stays true: its Java example is, line for line, the marked block of the example project
 * that CI builds and runs ({@code examples/train-predict}), and its Maven snippet names this build's version.
 */
class ReadmeLibraryExampleTest {
    private static final String SECTION = "## Using qat4j as a library";
    private static final Path EXAMPLE = Path.of("examples/train-predict/src/main/java/example/TrainAndPredict.java");

    @Test
    void theReadmeExampleIsTheExampleProjectsCode() throws Exception {
        String readme = Files.readString(Path.of("README.md"));
        int at = readme.indexOf(SECTION);
        assertTrue(at >= 0, "README has the section " + SECTION);
        String section = readme.substring(at, readme.indexOf("\n## ", at + 1));
        int start = section.indexOf("```java\n") + "```java\n".length();
        String readmeCode = section.substring(start, section.indexOf("```", start)).strip();

        String example = Files.readString(EXAMPLE);
        String begin = "// README: using qat4j as a library (begin)\n", end = "// README: using qat4j as a library (end)";
        String block = example.substring(example.indexOf(begin) + begin.length(), example.indexOf(end));
        String exampleCode = Arrays.stream(block.split("\n"))
                .map(line -> line.startsWith("        ") ? line.substring(8) : line)
                .collect(Collectors.joining("\n")).strip();
        assertEquals(exampleCode, readmeCode, "README's example differs from " + EXAMPLE);

        String pom = Files.readString(Path.of("examples/train-predict/pom.xml"));
        String version = Version.get();
        assertTrue(section.contains("<version>" + version + "</version>"), "README's snippet names version " + version);
        assertTrue(pom.contains("<qat4j.version>" + version + "</qat4j.version>"), "the example depends on " + version);
    }
}
