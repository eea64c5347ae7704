package dev.qat4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.qat4j.backend.Op;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The op list compiled into the native library (src/main/cpp/qat4j_ops.inc) is the Java enum, name by name. */
class NativeOpListTest {

    @Test
    void theCompiledListIsTheEnum() {
        List<String> nativeNames = new ArrayList<>();
        for (int i = 0; i < NativeKernels.qat4j_op_count(); i++) {
            nativeNames.add(NativeKernels.qat4j_op_name(i));
        }
        assertEquals(Arrays.stream(Op.values()).map(Op::methodName).toList(), nativeNames,
                "src/main/cpp/qat4j_ops.inc and dev.qat4j.backend.Op differ");
        assertEquals("", NativeKernels.qat4j_op_name(Op.values().length), "past the end");
    }
}
