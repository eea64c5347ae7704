package dev.qat4j;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Where tests find the real CIFAR-10 archive: QAT4J_DATA, else the shared folder beside the checkout. */
public final class TestData {
    private TestData() {
    }

    /** The archive or folder, or null when none exists (tests then skip with a reason). */
    public static Path cifar10() {
        List<Path> candidates = new ArrayList<>();
        String env = System.getenv("QAT4J_DATA");
        if (env != null && !env.isBlank()) {
            candidates.add(Path.of(env));
        }
        candidates.add(Path.of("/work/shared/datasets/cifar10/cifar-10-binary.tar.gz"));
        candidates.add(Path.of("..", "shared", "datasets", "cifar10", "cifar-10-binary.tar.gz"));
        return candidates.stream().filter(Files::exists).findFirst().orElse(null);
    }
}
