package dev.qat4j.backend;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/** CPU features as the OS reports them (/proc/cpuinfo), for {@code qat4j info}; kernels dispatch on CPUID natively. */
public final class CpuFeatures {
    private static final List<String> INTERESTING = List.of("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f",
            "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8");

    private CpuFeatures() {
    }

    /** The features of interest present on this CPU, or an empty list when /proc/cpuinfo cannot be read. */
    public static List<String> detected() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags")) {
                    Set<String> flags = Set.of(line.substring(line.indexOf(':') + 1).trim().split("\\s+"));
                    List<String> found = new ArrayList<>();
                    for (String f : INTERESTING) {
                        if (flags.contains(f)) {
                            found.add(f);
                        }
                    }
                    return found;
                }
            }
        } catch (IOException | RuntimeException e) {
            // Not Linux, or unreadable: report nothing rather than guess.
        }
        return List.of();
    }

    public static String modelName() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            // fall through
        }
        return System.getProperty("os.arch");
    }
}
