package dev.qat4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Op;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import org.junit.jupiter.api.Test;

/**
 * CpuBackend's named native codes are the #defines of src/main/cpp/qat4j_kernels.h, value by value (read back from
 * the compiled library by name), and the enum mappings cover every constant of the Java enums.
 */
class NativeConstantsTest {

    private static void same(String name, int javaValue) {
        assertEquals(NativeKernels.qat4j_constant(name), javaValue, name);
    }

    @Test
    void statusAndIsaCodes() {
        same("QAT4J_OK", CpuBackend.QAT4J_OK);
        same("QAT4J_ERR_NO_MEMORY", CpuBackend.QAT4J_ERR_NO_MEMORY);
        same("QAT4J_OFF_GRID", CpuBackend.QAT4J_OFF_GRID);
        same("QAT4J_ISA_SCALAR", CpuBackend.ISA_SCALAR);
        same("QAT4J_ISA_AVX2", CpuBackend.ISA_AVX2);
        same("QAT4J_ISA_AVX512F", CpuBackend.ISA_AVX512F);
        same("QAT4J_ISA_AVX512VNNI", CpuBackend.ISA_AVX512VNNI);
        assertTrue(NativeKernels.qat4j_cpu_max_isa() < NativeKernels.qat4j_constant("QAT4J_ISA_COUNT"));
        assertEquals(NativeKernels.qat4j_constant("QAT4J_CONSTANT_UNKNOWN"),
                NativeKernels.qat4j_constant("no such constant"));
    }

    @Test
    void integerProgramCodesAndFieldIndices() {
        same("QAT4J_ERR_UNSUPPORTED", CpuIntegerProgram.ERR_UNSUPPORTED);
        same("QAT4J_STEP_CONV", CpuIntegerProgram.STEP_CONV);
        same("QAT4J_STEP_REQUANT", CpuIntegerProgram.STEP_REQUANT);
        same("QAT4J_STEP_SUM_POOL", CpuIntegerProgram.STEP_SUM_POOL);
        same("QAT4J_STEP_LINEAR", CpuIntegerProgram.STEP_LINEAR);
        same("QAT4J_VALUE_INT8", CpuIntegerProgram.VALUE_INT8);
        same("QAT4J_VALUE_UINT8", CpuIntegerProgram.VALUE_UINT8);
        same("QAT4J_VALUE_INT32", CpuIntegerProgram.VALUE_INT32);
        same("QAT4J_PROGRAM_STEP_FIELDS", CpuIntegerProgram.STEP_FIELDS);
        String[] fields = {"KIND", "INPUT", "RESIDUAL", "C", "H", "W", "CO", "KH", "KW", "STRIDE", "PAD", "GROUPS",
            "WEIGHTS", "PARAMS", "BIAS", "ROUNDING", "QMIN", "QMAX", "POOL", "FRAC"};
        int[] java = {CpuIntegerProgram.F_KIND, CpuIntegerProgram.F_INPUT, CpuIntegerProgram.F_RESIDUAL,
            CpuIntegerProgram.F_C, CpuIntegerProgram.F_H, CpuIntegerProgram.F_W, CpuIntegerProgram.F_CO,
            CpuIntegerProgram.F_KH, CpuIntegerProgram.F_KW, CpuIntegerProgram.F_STRIDE, CpuIntegerProgram.F_PAD,
            CpuIntegerProgram.F_GROUPS, CpuIntegerProgram.F_WEIGHTS, CpuIntegerProgram.F_PARAMS,
            CpuIntegerProgram.F_BIAS, CpuIntegerProgram.F_ROUNDING, CpuIntegerProgram.F_QMIN,
            CpuIntegerProgram.F_QMAX, CpuIntegerProgram.F_POOL, CpuIntegerProgram.F_FRAC};
        assertEquals(CpuIntegerProgram.STEP_FIELDS, fields.length, "one mirror per field");
        for (int i = 0; i < fields.length; i++) {
            same("QAT4J_STEP_F_" + fields[i], java[i]);
        }
    }

    @Test
    void everyActQuantizerKind() {
        for (ActQuantizer.Kind k : ActQuantizer.Kind.values()) {
            same("QAT4J_ACT_" + k.name(), CpuBackend.nativeKind(k));
        }
    }

    @Test
    void everyRounding() {
        for (Rounding r : Rounding.values()) {
            same("QAT4J_ROUND_" + r.name(), CpuBackend.nativeRounding(r));
        }
    }

    @Test
    void residualAndOutputTypes() {
        same("QAT4J_RESIDUAL_NONE", CpuBackend.nativeResidual(null));
        for (DType t : new DType[] {DType.INT8, DType.UINT8, DType.INT32}) {
            same("QAT4J_RESIDUAL_" + t.name(), CpuBackend.nativeResidual(t));
        }
        same("QAT4J_OUT_INT8", CpuBackend.nativeOut(DType.INT8));
        same("QAT4J_OUT_INT8", CpuBackend.nativeOut(DType.UINT8));
        same("QAT4J_OUT_INT32", CpuBackend.nativeOut(DType.INT32));
    }

    @Test
    void statusesBecomeExceptions() {
        CpuBackend.check(CpuBackend.QAT4J_OK, Op.CONV2D);
        OutOfMemoryError oom = assertThrows(OutOfMemoryError.class,
                () -> CpuBackend.check(CpuBackend.QAT4J_ERR_NO_MEMORY, Op.CONV2D));
        assertEquals("cpu backend: conv2d: native work buffer could not be allocated", oom.getMessage());
        assertThrows(IllegalStateException.class, () -> CpuBackend.check(77, Op.GEMM_INT));
    }

    @Test
    void isaLevelsRunFromScalarToTheCpuMaximum() {
        int[] levels = CpuBackend.availableIsaLevels();
        assertEquals(NativeKernels.qat4j_cpu_max_isa() + 1, levels.length);
        for (int i = 0; i < levels.length; i++) {
            assertEquals(i, levels[i]);
        }
        assertEquals("avx512f", CpuBackend.isaName(CpuBackend.ISA_AVX512F));
        assertEquals("avx512vnni", CpuBackend.isaName(CpuBackend.ISA_AVX512VNNI));
    }
}
