package dev.qat4j.backend.cpu;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.Platform;

/**
 * JNI bindings of {@code src/main/cpp/qat4j_kernels.h}, generated and compiled by the javacpp Maven plugin.
 * Raw and unchecked: pointers and sizes must be valid. Users go through {@link CpuBackend}, whose Backend
 * boundary validates everything before these are called.
 */
@Platform(
        value = "linux-x86_64",
        include = {"qat4j_kernels.h", "cpu_features.cpp", "act_quant.cpp"})
public final class NativeKernels {
    static {
        Loader.load();
    }

    private NativeKernels() {
    }

    public static native int qat4j_cpu_max_isa();

    public static native int qat4j_cpu_active_isa();

    public static native @Cast("const char*") String qat4j_isa_name(int isa);

    public static native int qat4j_num_threads();

    public static native void qat4j_set_num_threads(int n);

    public static native void qat4j_act_quant_f32(@Const FloatPointer x, FloatPointer y, long n, int kind, int bits,
                                                  float alpha, float fixedClip, int isa);
}
