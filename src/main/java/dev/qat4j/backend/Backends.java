package dev.qat4j.backend;

import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.cuda.CudaBackend;
import dev.qat4j.backend.ref.RefBackend;
import java.lang.System.Logger.Level;
import java.util.Locale;

/**
 * The one place that picks a backend. {@code QAT4J_BACKEND=ref|cpu|cuda} (system property {@code qat4j.backend}
 * first, then the environment variable) forces one; otherwise the best available is used and every fallback is
 * logged with its reason. A forced backend that cannot load is an error, never a silent substitute. {@code cuda} is
 * opt-in: automatic selection never loads the CUDA library, so {@code cpu} and {@code ref} runs never touch it.
 */
public final class Backends {
    private static final System.Logger LOG = System.getLogger("dev.qat4j.backend");

    private static volatile Selection selection;

    private Backends() {
    }

    /** The chosen backend and why it was chosen. */
    public record Selection(Backend backend, String reason) {
    }

    /** The backend every caller without an explicit one uses (chosen once). */
    public static Backend get() {
        return selection().backend();
    }

    public static Selection selection() {
        Selection s = selection;
        if (s == null) {
            synchronized (Backends.class) {
                s = selection;
                if (s == null) {
                    selection = s = choose(requested());
                }
            }
        }
        return s;
    }

    /** The requested name from {@code -Dqat4j.backend} or {@code QAT4J_BACKEND}, or null. */
    public static String requested() {
        String v = System.getProperty("qat4j.backend");
        if (v == null || v.isBlank()) {
            v = System.getenv("QAT4J_BACKEND");
        }
        return v == null || v.isBlank() ? null : v.trim().toLowerCase(Locale.ROOT);
    }

    /** A backend by name; throws IllegalArgumentException for an unknown name, IllegalStateException if it cannot load. */
    public static Backend byName(String name) {
        return switch (name) {
            case "ref" -> RefBackend.INSTANCE;
            case "cpu" -> {
                try {
                    yield CpuBackend.get();
                } catch (Throwable e) { // UnsatisfiedLinkError, NoClassDefFoundError, ...
                    throw new IllegalStateException("backend 'cpu' requested but its native library did not load: " + e, e);
                }
            }
            case "cuda" -> CudaBackend.get(); // IllegalStateException naming why CUDA cannot be used here
            default -> throw new IllegalArgumentException(
                    "unknown backend '" + name + "' (QAT4J_BACKEND must be ref, cpu or cuda)");
        };
    }

    static Selection choose(String requested) {
        if (requested != null) {
            return new Selection(byName(requested), "requested by QAT4J_BACKEND=" + requested);
        }
        try {
            CpuBackend cpu = CpuBackend.get();
            return new Selection(cpu, "best available (native library loaded, int8 ISA " + cpu.isaName() + ")");
        } catch (Throwable e) {
            String why = "cpu backend unavailable (" + e + "); falling back to ref";
            LOG.log(Level.WARNING, why);
            return new Selection(RefBackend.INSTANCE, why);
        }
    }
}
