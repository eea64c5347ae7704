package dev.qat4j.backend;

import dev.qat4j.Version;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.cuda.CudaBackend;
import dev.qat4j.backend.ref.RefBackend;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The one place that picks a backend. {@code QAT4J_BACKEND=ref|cpu|cuda} (system property {@code qat4j.backend}
 * first, then the environment variable) forces one; otherwise the best available is used and every fallback is
 * logged with its reason. A forced backend that cannot load is an error, never a silent substitute. {@code cuda} is
 * opt-in: automatic selection never loads the CUDA library, so {@code cpu} and {@code ref} runs never touch it.
 * Code outside the backend packages reaches the concrete backends only through here ({@link #reference()},
 * {@link #setCpuThreads}, {@link #diagnostics}); ArchitectureTest checks it.
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
                    throw new IllegalStateException("backend 'cpu' requested but " + nativeLoadFailure(e), e);
                }
            }
            case "cuda" -> CudaBackend.get(); // IllegalStateException naming why CUDA cannot be used here
            default -> throw new IllegalArgumentException(
                    "unknown backend '" + name + "' (QAT4J_BACKEND must be ref, cpu or cuda)");
        };
    }

    /** Why the cpu backend's JNI library did not load, with where it comes from (the usual cause: its jar is missing). */
    static String nativeLoadFailure(Throwable e) {
        return "its native library did not load: " + e + " (it ships in the jar dev.qat4j:qat4j:" + Version.get()
                + ":linux-x86_64, which must be on the classpath; it runs on linux x86-64 with glibc 2.34 or newer)";
    }

    /** The reference backend (plain Java loops on the heap): always available, the oracle of the others. */
    public static Backend reference() {
        return RefBackend.INSTANCE;
    }

    /**
     * Sets the number of threads the native kernels use (OpenMP and OpenBLAS, 1 to 1024) when {@code b} is a cpu
     * backend and returns true; other backends have no such setting and are left alone (false).
     *
     * @throws IllegalArgumentException for a cpu backend and a count outside 1..1024
     */
    public static boolean setCpuThreads(Backend b, int threads) {
        if (!(b instanceof CpuBackend)) {
            return false;
        }
        CpuBackend.setThreads(threads);
        return true;
    }

    /** One line of {@link #diagnostics}: a label ({@code ""} for a continuation of the line above) and its value. */
    public record Diagnostic(String label, String value) {
    }

    /**
     * What {@code qat4j info} reports about the backends, in its order: the selected backend (name and reason, then
     * its description), the CPU (model, detected features, the native int8 dispatch level, thread counts) and
     * whether CUDA is usable. The cpu backend's native library is loaded if it can be (a failure is reported, never
     * thrown); probing CUDA loads the CUDA library: only this diagnostic does it unasked (selection never does).
     */
    public static List<Diagnostic> diagnostics(Selection sel) {
        List<Diagnostic> out = new ArrayList<>();
        Backend b = sel.backend();
        out.add(new Diagnostic("backend", b.name() + " (" + sel.reason() + ")"));
        out.add(new Diagnostic("", b.description()));
        out.add(new Diagnostic("cpu", CpuFeatures.modelName()));
        out.add(new Diagnostic("features", String.join(" ", CpuFeatures.detected())));
        String isa;
        String threads;
        try {
            CpuBackend cpu = CpuBackend.get();
            isa = cpu.isaName() + " (native dispatch)";
            threads = cpu.threads() + " (native kernels), " + Runtime.getRuntime().availableProcessors() + " cores";
        } catch (Throwable e) {
            isa = "native library not loaded: " + e;
            threads = Runtime.getRuntime().availableProcessors() + " cores";
        }
        out.add(new Diagnostic("int8 ISA", isa));
        out.add(new Diagnostic("threads", threads));
        String cuda = CudaBackend.isAvailable() ? CudaBackend.get().description() + " (QAT4J_BACKEND=cuda to use it)"
                : "unavailable: " + CudaBackend.unavailableReason();
        out.add(new Diagnostic("cuda", cuda));
        return out;
    }

    static Selection choose(String requested) {
        if (requested != null) {
            return new Selection(byName(requested), "requested by QAT4J_BACKEND=" + requested);
        }
        try {
            CpuBackend cpu = CpuBackend.get();
            return new Selection(cpu, "best available (native library loaded, int8 ISA " + cpu.isaName() + ")");
        } catch (Throwable e) {
            String why = "cpu backend unavailable (" + nativeLoadFailure(e) + "); falling back to ref";
            LOG.log(Level.WARNING, why);
            return new Selection(RefBackend.INSTANCE, why);
        }
    }
}
