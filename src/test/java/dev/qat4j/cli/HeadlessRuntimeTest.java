package dev.qat4j.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The CLI starts on a Java runtime without java.desktop (the jlink'ed one bench/gpu-kit.sh packs for GPU machines):
 * picocli loads every command class to parse any command, and the JVM verifies a class's bytecode against the types
 * it calls, so no command class may call java.awt itself; charts live in their own classes, loaded only when drawn.
 */
class HeadlessRuntimeTest {

    @Test
    void noCommandClassTouchesJavaAwt() throws IOException {
        List<Class<?>> commands = new ArrayList<>();
        commands.add(Main.class);
        for (CommandLine sub : new CommandLine(new Main()).getSubcommands().values()) {
            commands.add(sub.getCommandSpec().userObject().getClass());
        }
        assertTrue(commands.size() > 8, "the subcommands were found: " + commands);
        for (Class<?> c : commands) {
            String resource = c.getName().replace('.', '/') + ".class";
            try (InputStream in = c.getClassLoader().getResourceAsStream(resource)) {
                String bytes = new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
                assertFalse(bytes.contains("java/awt"), c.getName() + " refers to java.awt: move that code into a "
                        + "class of its own (see ReportChart)");
            }
        }
    }
}
