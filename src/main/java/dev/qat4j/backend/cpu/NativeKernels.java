package dev.qat4j.backend.cpu;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.annotation.Cast;
import org.bytedeco.javacpp.annotation.Const;
import org.bytedeco.javacpp.annotation.Name;
import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;
import org.bytedeco.openblas.presets.openblas;

/**
 * JNI bindings of {@code src/main/cpp/qat4j_kernels.h}, generated and compiled by the javacpp Maven plugin; the
 * OpenBLAS preset is inherited so its library is loaded before ours. Raw and unchecked: pointers and sizes must be
 * valid. Users go through {@link CpuBackend}, whose Backend boundary validates everything before these are called.
 * Every kernel returns a status ({@code QAT4J_OK}, {@code QAT4J_ERR_NO_MEMORY}, ...) that CpuBackend checks; conv
 * geometry crosses as one {@link ConvGeometry} struct. Only the public header is bound: the kernel files' shared
 * internals (qat4j_internal.h) are not reachable from Java.
 */
@Properties(inherit = openblas.class, value = @Platform(
        value = "linux-x86_64",
        include = {"qat4j_kernels.h", "cpu_features.cpp", "act_quant.cpp", "weight_quant.cpp", "sgemm_f32.cpp",
            "conv_f32.cpp", "ops_f32.cpp", "gemm_s8.cpp", "conv_s8.cpp", "int_ops.cpp", "int_program.cpp",
            "grid_conv.cpp", "op_list.cpp", "data_ops.cpp"}))
public final class NativeKernels {
    static {
        Loader.load();
    }

    private NativeKernels() {
    }

    /** {@code qat4j_conv_geometry}: x [n,c,h,w], weights [co,c/groups,kh,kw], strides, pads and groups. */
    @Name("qat4j_conv_geometry")
    public static class ConvGeometry extends Pointer {
        static {
            Loader.load();
        }

        /** A zeroed struct in native memory; close it (try-with-resources) to free it. */
        public ConvGeometry() {
            super((Pointer) null);
            allocate();
        }

        private native void allocate();

        public native int n();
        public native ConvGeometry n(int n);
        public native int c();
        public native ConvGeometry c(int c);
        public native int h();
        public native ConvGeometry h(int h);
        public native int w();
        public native ConvGeometry w(int w);
        public native int co();
        public native ConvGeometry co(int co);
        public native int kh();
        public native ConvGeometry kh(int kh);
        public native int kw();
        public native ConvGeometry kw(int kw);
        public native int sh();
        public native ConvGeometry sh(int sh);
        public native int sw();
        public native ConvGeometry sw(int sw);
        public native int ph();
        public native ConvGeometry ph(int ph);
        public native int pw();
        public native ConvGeometry pw(int pw);
        public native int groups();
        public native ConvGeometry groups(int groups);
    }

    /** The value of a {@code #define} of qat4j_kernels.h by name ({@code QAT4J_CONSTANT_UNKNOWN} if not one). */
    public static native int qat4j_constant(String name);

    public static native int qat4j_op_count();

    public static native @Cast("const char*") String qat4j_op_name(int op);

    public static native int qat4j_cpu_max_isa();

    public static native int qat4j_cpu_active_isa();

    public static native @Cast("const char*") String qat4j_isa_name(int isa);

    public static native int qat4j_num_threads();

    public static native void qat4j_set_num_threads(int n);

    public static native int qat4j_retain_freed_memory();

    /** See qat4j_kernels.h: the largest single native work buffer; returns the previous limit. */
    public static native long qat4j_set_work_buffer_limit(long bytes);

    public static native long qat4j_work_buffer_limit();

    public static native int qat4j_act_quant_f32(@Const FloatPointer x, FloatPointer y, long n, int kind, int bits,
                                                  float alpha, float fixedClip, int isa);

    public static native int qat4j_conv2d_f32(@Const FloatPointer x, @Const FloatPointer wt, @Const FloatPointer bias,
                                              FloatPointer y, @Const ConvGeometry g, int isa);

    public static native int qat4j_conv2d_bwd_data_f32(@Const FloatPointer dy, @Const FloatPointer wt, FloatPointer dx,
                                                       @Const ConvGeometry g, int isa);

    public static native int qat4j_conv2d_bwd_weight_f32(@Const FloatPointer dy, @Const FloatPointer x,
                                                         FloatPointer dw, @Const ConvGeometry g, int isa);

    public static native int qat4j_linear_f32(@Const FloatPointer x, @Const FloatPointer wt, @Const FloatPointer bias,
                                               FloatPointer y, int n, int in, int out);

    public static native int qat4j_linear_bwd_data_f32(@Const FloatPointer dy, @Const FloatPointer wt, FloatPointer dx,
                                                        int n, int in, int out);

    public static native int qat4j_linear_bwd_weight_f32(@Const FloatPointer dy, @Const FloatPointer x,
                                                          FloatPointer dw, int n, int in, int out);

    public static native int qat4j_bias_bwd_f32(@Const FloatPointer dy, FloatPointer db, int n, int c, long inner);

    public static native int qat4j_bn_train_f32(@Const FloatPointer x, @Const FloatPointer gamma,
                                                 @Const FloatPointer beta, FloatPointer runningMean,
                                                 FloatPointer runningVar, float momentum, float eps, FloatPointer y,
                                                 FloatPointer mean, FloatPointer invStd, int n, int c, long hw,
                                                 int isa);

    public static native int qat4j_bn_eval_f32(@Const FloatPointer x, @Const FloatPointer gamma,
                                                @Const FloatPointer beta, @Const FloatPointer runningMean,
                                                @Const FloatPointer runningVar, float eps, FloatPointer y, int n,
                                                int c, long hw);

    public static native int qat4j_bn_bwd_f32(@Const FloatPointer dy, @Const FloatPointer x, @Const FloatPointer gamma,
                                               @Const FloatPointer mean, @Const FloatPointer invStd, FloatPointer dx,
                                               FloatPointer dgamma, FloatPointer dbeta, int n, int c, long hw,
                                               int isa);

    public static native int qat4j_clamp_f32(@Const FloatPointer x, FloatPointer y, long len, float lo, float hi);

    public static native int qat4j_clamp_bwd_f32(@Const FloatPointer dy, @Const FloatPointer x, FloatPointer dx,
                                                  long len, float lo, float hi, int isa);

    public static native int qat4j_augment_batch_u8(@Cast("const uint8_t*") BytePointer images,
                                                     @Cast("const int32_t*") IntPointer labels, int c, int h, int w,
                                                     @Cast("const int32_t*") int[] index,
                                                     @Cast("const int32_t*") int[] top,
                                                     @Cast("const int32_t*") int[] left,
                                                     @Cast("const uint8_t*") byte[] flip, int count, int padding,
                                                     @Const FloatPointer table, FloatPointer out,
                                                     @Cast("int32_t*") IntPointer outLabels);

    public static native int qat4j_accumulate_confusion(@Const FloatPointer logits,
                                                         @Cast("const int32_t*") IntPointer labels, int n, int k,
                                                         FloatPointer counts);

    public static native int qat4j_sgd_checked_f32(FloatPointer param, @Const FloatPointer grad, FloatPointer buf,
                                                    long len, float lr, float momentum, float weightDecay,
                                                    int nesterov, FloatPointer nonFinite);

    public static native int qat4j_add_f32(@Const FloatPointer a, @Const FloatPointer b, FloatPointer y, long len);

    public static native int qat4j_avg_pool_f32(@Const FloatPointer x, FloatPointer y, int nc, int h, int w, int k,
                                                 int stride, int pad);

    public static native int qat4j_avg_pool_bwd_f32(@Const FloatPointer dy, FloatPointer dx, int nc, int h, int w,
                                                     int k, int stride, int pad);

    public static native int qat4j_adaptive_avg_pool_f32(@Const FloatPointer x, FloatPointer y, int nc, int h, int w,
                                                          int oh, int ow);

    public static native int qat4j_adaptive_avg_pool_bwd_f32(@Const FloatPointer dy, FloatPointer dx, int nc, int h,
                                                              int w, int oh, int ow);

    public static native int qat4j_softmax_ce_f32(@Const FloatPointer logits, @Const IntPointer labels,
                                                  float smoothing, FloatPointer dlogits, int n, int k, float[] loss);

    public static native int qat4j_sgd_f32(FloatPointer param, @Const FloatPointer grad, FloatPointer buf, long len,
                                            float lr, float momentum, float weightDecay, int nesterov);

    public static native int qat4j_act_quant_bwd_f32(@Const FloatPointer dy, @Const FloatPointer x, FloatPointer dx,
                                                     long len, int kind, int bits, float alpha, float fixedClip,
                                                     float[] dalpha, int isa);

    public static native int qat4j_weight_quant_f32(@Const FloatPointer w, FloatPointer wq, long len, int bits);

    public static native int qat4j_weight_quant_bwd_f32(@Const FloatPointer g, @Const FloatPointer w, FloatPointer dw,
                                                         long len, int bits);

    public static native int qat4j_gemm_s8_s32(long m, long n, long k, @Cast("const int8_t*") BytePointer a,
                                                @Cast("const uint8_t*") BytePointer b, int bSigned,
                                                @Cast("int32_t*") IntPointer c, int isa);

    public static native int qat4j_conv2d_s8_s32(@Cast("const uint8_t*") BytePointer x, int xSigned,
                                                 @Cast("const int8_t*") BytePointer wt, @Cast("int32_t*") IntPointer acc,
                                                 @Const ConvGeometry g, int isa);

    public static native int qat4j_requantize_s32(@Cast("const int32_t*") IntPointer acc,
                                                   @Cast("const int32_t*") IntPointer mult,
                                                   @Cast("const int32_t*") IntPointer shift,
                                                   @Cast("const int32_t*") IntPointer bias, int perTensor, int rounding,
                                                   int qmin, int qmax, Pointer out, int outBytes, long len,
                                                   int channels, long inner);

    public static native int qat4j_requantize_residual_s32(@Cast("const int32_t*") IntPointer acc,
                                                            @Cast("const void*") Pointer residual, int residualKind,
                                                            @Cast("const int32_t*") int[] mult,
                                                            @Cast("const int32_t*") int[] shift,
                                                            @Cast("const int64_t*") long[] bias,
                                                            @Cast("const int32_t*") int[] residualMult, int rounding,
                                                            int qmin, int qmax, Pointer out, int outBytes, long len,
                                                            int channels, long inner, int isa);

    public static native int qat4j_int_program_create(int steps, @Cast("const int64_t*") long[] desc, int values,
                                                      @Cast("const int64_t*") long[] valueDesc,
                                                      @Cast("const int8_t*") byte[] bytes,
                                                      @Cast("const int32_t*") int[] ints,
                                                      @Cast("const int64_t*") long[] longs, int isa,
                                                      @Cast("int64_t*") long[] program);

    public static native int qat4j_int_program_run(@Cast("int64_t") long program,
                                                   @Cast("const uint8_t*") byte[] codes, @Cast("int64_t") long n,
                                                   @Cast("int64_t*") long[] out);

    public static native void qat4j_int_program_free(@Cast("int64_t") long program);

    public static native @Cast("int64_t") long qat4j_int_program_split_min_macs(@Cast("int64_t") long macs);

    public static native int qat4j_int_program_profile(@Cast("int64_t") long program,
                                                       @Cast("const uint8_t*") byte[] codes, @Cast("int64_t") long n,
                                                       @Cast("int64_t*") long[] out,
                                                       @Cast("int64_t*") long[] stepNanos);

    public static native int qat4j_conv2d_grid_f32(@Const FloatPointer x, float xStep, int xSigned, int xMin, int xMax,
                                                   @Const FloatPointer wt, float wStep, int wMin, int wMax,
                                                   @Const FloatPointer bias, FloatPointer y, @Const ConvGeometry g,
                                                   int isa);

}
