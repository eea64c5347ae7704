package dev.qat4j.backend;

import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/** Closes every tensor it tracked, in reverse order, when it is closed: deterministic native memory. */
public final class TensorScope implements AutoCloseable {
    private final List<AutoCloseable> tracked = new ArrayList<>();

    public <T extends AutoCloseable> T track(T resource) {
        tracked.add(resource);
        return resource;
    }

    @Override
    public void close() {
        RuntimeException first = null;
        for (int i = tracked.size() - 1; i >= 0; i--) {
            try {
                tracked.get(i).close();
            } catch (Exception e) {
                if (first == null) {
                    first = e instanceof RuntimeException re ? re : new IllegalStateException(e);
                }
            }
        }
        tracked.clear();
        if (first != null) {
            throw first;
        }
    }
}
