package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Arrays;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The op list and Backend agree: every public compute method is an op and every op a method (see also NativeOpListTest). */
class OpListTest {

    @Test
    void everyPublicComputeMethodOfBackendIsAnOpAndEveryOpAMethod() {
        // tensor plumbing (allFinite, readAllFloats: reads of many tensors at once), and compileIntegerProgram: not one op but a whole forward of conv2dInt and
        // requantizeResidual steps compiled into one call (IntegerProgramTest checks it against its reference)
        Set<String> tensorPlumbing = Set.of("zeros", "fromFloats", "fromBytes", "fromInts", "copyFrom", "readFloats",
                "readBytes", "readInts", "setOpTimer", "name", "description", "supportsNatively",
                "convOutShape", "requantizeResidualOverflowChannel", "compileIntegerProgram", "allFinite", "readAllFloats", "readBacks", "hasDeviceMemory");
        Set<String> methods = Arrays.stream(Backend.class.getDeclaredMethods())
                .filter(m -> Modifier.isPublic(m.getModifiers()) && !Modifier.isStatic(m.getModifiers()))
                .map(Method::getName)
                .filter(n -> !tensorPlumbing.contains(n))
                .collect(Collectors.toCollection(TreeSet::new));
        Set<String> ops = Arrays.stream(Op.values()).map(Op::methodName).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(ops, methods, "Backend's public compute methods and the op list differ");
    }

    @Test
    void namesAreUniqueAndOpsThatWriteInPlaceAreNotIntegerOps() {
        assertEquals(Op.values().length, Arrays.stream(Op.values()).map(Op::methodName).distinct().count());
        for (Op op : Op.values()) {
            assertTrue(!(op.updatesOperandsInPlace() && op.integerResult()), op.toString());
        }
    }
}
