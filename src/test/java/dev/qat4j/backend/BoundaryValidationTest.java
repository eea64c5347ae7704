package dev.qat4j.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.cuda.CudaBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.quant.ActQuantizer;
import dev.qat4j.quant.Rounding;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Tensor;
import dev.qat4j.tensor.internal.TensorInternals;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Named;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The {@link Backend} boundary refuses bad input to every public method, on every backend, with an
 * IllegalArgumentException (IllegalStateException for closed tensors) whose message starts with the op's name and
 * names the offending shape or dtype; refused calls have no side effects, and the backend still computes correctly
 * afterwards (no memory corruption behind a refused call).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BoundaryValidationTest {

    static Stream<Arguments> backends() {
        Stream<Arguments> s = Stream.of(Arguments.of(Named.of("ref", RefBackend.INSTANCE)),
                Arguments.of(Named.of("cpu", CpuBackend.get())));
        // The same checks guard the GPU: every backend inherits Backend's validating entry points.
        return CudaBackend.isAvailable() ? Stream.concat(s, Stream.of(Arguments.of(Named.of("cuda", CudaBackend.get()))))
                : s;
    }

    // ---------------------------------------------------------------- helpers

    private final List<AutoCloseable> owned = new ArrayList<>();

    @AfterEach
    void closeOwned() throws Exception {
        for (int i = owned.size() - 1; i >= 0; i--) {
            owned.get(i).close();
        }
        owned.clear();
    }

    private <T extends AutoCloseable> T keep(T resource) {
        owned.add(resource);
        return resource;
    }

    private static Backend other(Backend b) {
        return b == RefBackend.INSTANCE ? CpuBackend.get() : RefBackend.INSTANCE;
    }

    private static String s(int... shape) {
        return Arrays.toString(shape);
    }

    private static int count(int... shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    /** FLOAT32 with deterministic, varied values. */
    private Tensor f(Backend b, int... shape) {
        float[] v = new float[count(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = 2f * (float) Math.sin(0.7 * i + 0.3);
        }
        return keep(b.fromFloats(v, shape));
    }

    private Tensor fv(Backend b, float[] v, int... shape) {
        return keep(b.fromFloats(v, shape));
    }

    private Tensor z(Backend b, DType dtype, int... shape) {
        return keep(b.zeros(dtype, shape));
    }

    private Tensor ints(Backend b, int[] v, int... shape) {
        return keep(b.fromInts(v, shape));
    }

    /** INT8 or UINT8 with deterministic codes. */
    private Tensor bytes(Backend b, DType dtype, int... shape) {
        byte[] v = new byte[count(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (byte) ((i * 37) % 17 - 8);
        }
        return keep(b.fromBytes(v, dtype, shape));
    }

    private static void closeResult(Object result) {
        if (result instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
    }

    private static <E extends Throwable> E thrown(Class<E> type, String prefix, Executable call, String... fragments) {
        E e = assertThrows(type, call);
        String m = e.getMessage();
        assertNotNull(m, "exception without a message");
        assertTrue(m.startsWith(prefix), () -> "message should start with '" + prefix + "': " + m);
        for (String fragment : fragments) {
            assertTrue(m.contains(fragment), () -> "message should contain '" + fragment + "': " + m);
        }
        return e;
    }

    /** IllegalArgumentException whose message starts with "op: " and contains every fragment. */
    private static IllegalArgumentException iae(String op, Executable call, String... fragments) {
        return thrown(IllegalArgumentException.class, op + ": ", call, fragments);
    }

    /** IllegalStateException whose message starts with {@code prefix} and contains every fragment. */
    private static IllegalStateException ise(String prefix, Executable call, String... fragments) {
        return thrown(IllegalStateException.class, prefix, call, fragments);
    }

    /** One tensor argument: the name the boundary uses in messages, a valid value, whether null is allowed. */
    private record Arg(String name, Tensor valid, boolean nullable) {
    }

    private static Arg req(String name, Tensor valid) {
        return new Arg(name, valid, false);
    }

    private static Arg opt(String name, Tensor valid) {
        return new Arg(name, valid, true);
    }

    /**
     * The checks every tensor argument of every op gets: the valid call works; then, one argument at a time, null
     * (refused unless optional), a closed tensor (IllegalStateException naming op and argument), a tensor of the
     * other backend (message names both backends) and a tensor of the wrong dtype (message names dtype and shape).
     */
    private void tensorArgs(Backend b, String op, Function<Tensor[], Object> call, Arg... args) {
        Tensor[] valid = Arrays.stream(args).map(Arg::valid).toArray(Tensor[]::new);
        closeResult(assertDoesNotThrow(() -> call.apply(valid), op + " with valid arguments"));
        Backend other = other(b);
        for (int i = 0; i < args.length; i++) {
            Arg a = args[i];
            Tensor v = a.valid();
            String d = v.dtype() + s(v.shape());

            Tensor[] withNull = valid.clone();
            withNull[i] = null;
            if (a.nullable()) {
                closeResult(assertDoesNotThrow(() -> call.apply(withNull), op + " with optional " + a.name() + " null"));
            } else {
                iae(op, () -> call.apply(withNull), a.name() + " is null");
            }

            Tensor closed = b.copyFrom(v);
            closed.close();
            Tensor[] withClosed = valid.clone();
            withClosed[i] = closed;
            ise(op + " (" + a.name() + "): ", () -> call.apply(withClosed), "tensor " + d + " is closed");

            Tensor[] withForeign = valid.clone();
            withForeign[i] = keep(other.copyFrom(v));
            iae(op, () -> call.apply(withForeign), a.name() + " " + d,
                    "lives on backend '" + other.name() + "', not '" + b.name() + "'");

            DType wrong = v.dtype() == DType.FLOAT32 ? DType.INT8 : DType.FLOAT32;
            Tensor[] withWrongType = valid.clone();
            withWrongType[i] = z(b, wrong, v.shape());
            iae(op, () -> call.apply(withWrongType), a.name(), wrong + s(v.shape()));
        }
    }

    // ---------------------------------------------------------------- tensors: factories, copies, reads

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void factories(Backend b) {
        iae("zeros", () -> b.zeros(null, 2, 3), "dtype is null");
        iae("zeros", () -> b.zeros(DType.FLOAT32, 2, -1), "negative dimension", "[2, -1]");
        iae("zeros", () -> b.zeros(DType.INT8, (int[]) null), "shape is null");
        iae("zeros", () -> b.zeros(DType.FLOAT32, 65536, 65536), "[65536, 65536]", "more than 2^31-1 elements");

        iae("fromFloats", () -> b.fromFloats(null, 2, 3), "data is null");
        iae("fromFloats", () -> b.fromFloats(new float[5], 2, 3), "data has 5 elements but shape [2, 3] needs 6");
        iae("fromFloats", () -> b.fromFloats(new float[7], 2, 3), "data has 7 elements", "[2, 3]");
        // -2 * -3 = 6 elements: the sign must be checked, not only the product
        iae("fromFloats", () -> b.fromFloats(new float[6], -2, -3), "negative dimension", "[-2, -3]");
        iae("fromFloats", () -> b.fromFloats(new float[1], (int[]) null), "shape is null");

        iae("fromBytes", () -> b.fromBytes(new byte[6], DType.FLOAT32, 2, 3), "dtype must be INT8 or UINT8, got FLOAT32");
        iae("fromBytes", () -> b.fromBytes(new byte[6], DType.INT32, 2, 3), "got INT32");
        iae("fromBytes", () -> b.fromBytes(new byte[6], null, 2, 3), "got null");
        iae("fromBytes", () -> b.fromBytes(null, DType.INT8, 2, 3), "data is null");
        iae("fromBytes", () -> b.fromBytes(new byte[4], DType.UINT8, 2, 3), "data has 4 elements but shape [2, 3]");
        iae("fromBytes", () -> b.fromBytes(new byte[6], DType.INT8, 2, -3), "negative dimension", "[2, -3]");

        iae("fromInts", () -> b.fromInts(null, 2), "data is null");
        iae("fromInts", () -> b.fromInts(new int[3], 2), "data has 3 elements but shape [2] needs 2");
        iae("fromInts", () -> b.fromInts(new int[0], 0, -1), "negative dimension", "[0, -1]");

        // Edge cases that are valid: empty tensors and scalars.
        Tensor empty = z(b, DType.FLOAT32, 0, 3);
        assertEquals(0, empty.numel());
        assertEquals(0, empty.toFloatArray().length);
        Tensor scalar = fv(b, new float[] {4.5f});
        assertEquals(0, scalar.rank());
        assertArrayEquals(new float[] {4.5f}, scalar.toFloatArray());
        assertSame(b, scalar.backend());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void copyFrom(Backend b) {
        iae("copyFrom", () -> b.copyFrom(null), "source tensor is null");
        for (Backend source : List.of(b, other(b))) {
            Tensor dead = source.fromFloats(new float[6], 2, 3);
            dead.close();
            ise("copyFrom: ", () -> b.copyFrom(dead), "tensor FLOAT32[2, 3] is closed");
            Tensor live = fv(source, new float[] {1, -2, 3, -4, 5, -6}, 2, 3);
            Tensor copy = keep(b.copyFrom(live));
            assertSame(b, copy.backend());
            assertArrayEquals(new int[] {2, 3}, copy.shape());
            assertArrayEquals(live.toFloatArray(), copy.toFloatArray());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void reads(Backend b) {
        Tensor fl = f(b, 2, 2), i8 = bytes(b, DType.INT8, 2, 2), u8 = bytes(b, DType.UINT8, 2, 2),
                i32 = ints(b, new int[] {1, 2, 3, 4}, 2, 2);
        assertEquals(4, b.readFloats(fl).length);
        assertEquals(4, b.readBytes(i8).length);
        assertEquals(4, b.readBytes(u8).length);
        assertArrayEquals(new int[] {1, 2, 3, 4}, b.readInts(i32));

        iae("readFloats", () -> b.readFloats(null), "t is null");
        iae("readFloats", () -> b.readFloats(i32), "t must be FLOAT32, got INT32[2, 2]");
        iae("readBytes", () -> b.readBytes(null), "t is null");
        iae("readBytes", () -> b.readBytes(fl), "t must be INT8 or UINT8, got FLOAT32[2, 2]");
        iae("readBytes", () -> b.readBytes(i32), "got INT32[2, 2]");
        iae("readInts", () -> b.readInts(null), "t is null");
        iae("readInts", () -> b.readInts(i8), "t must be INT32, got INT8[2, 2]");

        Backend other = other(b);
        Tensor foreign = keep(other.copyFrom(fl));
        iae("readFloats", () -> b.readFloats(foreign), "FLOAT32[2, 2] lives on backend '" + other.name() + "'");
        iae("readInts", () -> b.readInts(keep(other.copyFrom(i32))), "lives on backend '" + other.name() + "'");
        iae("readBytes", () -> b.readBytes(keep(other.copyFrom(u8))), "UINT8[2, 2] lives on backend");

        Tensor dead = b.copyFrom(fl);
        dead.close();
        ise("readFloats (t): ", () -> b.readFloats(dead), "FLOAT32[2, 2] is closed");
        ise("readFloats (t): ", dead::toFloatArray, "is closed");
        Tensor deadBytes = b.copyFrom(i8);
        deadBytes.close();
        ise("readBytes (t): ", deadBytes::toByteArray, "INT8[2, 2] is closed");
        Tensor deadInts = b.copyFrom(i32);
        deadInts.close();
        ise("readInts (t): ", deadInts::toIntArray, "INT32[2, 2] is closed");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void lifecycleAndViews(Backend b) {
        float[] values = {1, 2, 3, 4, 5, 6};
        Tensor t = b.fromFloats(values, 2, 3);
        iae("reshape", () -> t.reshape(4, 2), "cannot view [2, 3] (6 elements) as [4, 2]");
        iae("reshape", () -> t.reshape(7), "as [7]");
        assertThrows(IllegalArgumentException.class, () -> t.reshape(-2, -3));

        Tensor view = t.reshape(3, 2);
        Tensor viewOfView = view.reshape(6);
        assertArrayEquals(values, view.toFloatArray());
        assertArrayEquals(values, viewOfView.toFloatArray());

        view.close(); // a view frees nothing
        assertTrue(view.isClosed());
        assertFalse(t.isClosed());
        assertFalse(viewOfView.isClosed());
        assertArrayEquals(values, t.toFloatArray());
        ise("relu (x): ", () -> b.relu(view), "FLOAT32[3, 2] is closed");

        Tensor late = t.reshape(6);
        t.close();
        assertTrue(t.isClosed());
        assertTrue(late.isClosed(), "a view of a closed base is closed");
        assertTrue(viewOfView.isClosed(), "a view of a view of a closed base is closed");
        ise("readFloats (t): ", late::toFloatArray, "FLOAT32[6] is closed");
        ise("relu (x): ", () -> b.relu(late), "FLOAT32[6] is closed");
        ise("add (second operand): ", () -> b.add(f(b, 6), viewOfView), "FLOAT32[6] is closed");
        ise("reshape: ", () -> late.reshape(2, 3), "FLOAT32[6] is closed");
        ise("storage: ", () -> TensorInternals.storage(t), "FLOAT32[2, 3] is closed");
        ise("copyFrom: ", () -> other(b).copyFrom(late), "is closed");

        assertDoesNotThrow(t::close);
        assertDoesNotThrow(t::close);
        assertDoesNotThrow(late::close);
        assertDoesNotThrow(view::close);
        assertTrue(t.isClosed());
        assertTrue(t.toString().contains("closed"), t.toString());
    }

    // ---------------------------------------------------------------- convolution

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void conv2d(Backend b) {
        String op = "conv2d";
        Tensor x = f(b, 1, 2, 5, 5), w = f(b, 3, 2, 3, 3), bias = f(b, 3);
        ConvParams p = ConvParams.of(1, 1);
        tensorArgs(b, op, t -> b.conv2d(t[0], t[1], t[2], p), req("x", x), req("w", w), opt("bias", bias));

        iae(op, () -> b.conv2d(f(b, 2, 5, 5), w, bias, p), "x must be FLOAT32 of rank 4, got FLOAT32[2, 5, 5]");
        iae(op, () -> b.conv2d(f(b, 1, 1, 2, 5, 5), w, bias, p), "got FLOAT32[1, 1, 2, 5, 5]");
        iae(op, () -> b.conv2d(x, f(b, 3, 18), bias, p), "w must be FLOAT32 of rank 4, got FLOAT32[3, 18]");
        iae(op, () -> b.conv2d(x, f(b, 3, 4, 3, 3), bias, p),
                "w has 4 input channels per group but x has 2 channels", "x [1, 2, 5, 5]", "w [3, 4, 3, 3]");
        iae(op, () -> b.conv2d(x, f(b, 3, 1, 3, 3), bias, ConvParams.of(1, 1, 2)),
                "groups 2 must divide C_in 2 and C_out 3");
        iae(op, () -> b.conv2d(f(b, 1, 3, 5, 5), f(b, 4, 1, 3, 3), null, ConvParams.of(1, 1, 2)),
                "groups 2 must divide C_in 3 and C_out 4", "x [1, 3, 5, 5]");
        iae(op, () -> b.conv2d(x, f(b, 3, 2, 6, 6), bias, ConvParams.of(1, 0)),
                "kernel larger than the padded input", "w [3, 2, 6, 6]");
        iae(op, () -> b.conv2d(x, f(b, 3, 2, 3, 8), bias, p), "kernel larger than the padded input");
        // the same 6x6 kernel fits once padding makes the input 7x7
        try (Tensor y = b.conv2d(x, f(b, 3, 2, 6, 6), bias, p)) {
            assertArrayEquals(new int[] {1, 3, 2, 2}, y.shape());
        }
        iae(op, () -> b.conv2d(x, f(b, 3, 2, 0, 3), bias, p), "weight dimensions must be >= 1", "w [3, 2, 0, 3]");
        iae(op, () -> b.conv2d(x, w, f(b, 4), p), "bias FLOAT32[4] must have C_out = 3 elements");
        iae(op, () -> b.conv2d(x, w, f(b, 1, 3), p), "bias must be FLOAT32 of rank 1, got FLOAT32[1, 3]");
        iae(op, () -> b.conv2d(x, w, bias, null), "ConvParams is null");
        // padding so large that the int arithmetic of the output size would wrap around
        iae(op, () -> b.conv2d(x, w, bias, ConvParams.of(1, Integer.MAX_VALUE)), "padded input larger than 2^31-1");
        iae(op, () -> b.conv2d(x, w, bias, new ConvParams(1, 1, 1, Integer.MAX_VALUE / 2 + 1, 1)),
                "padded input larger than 2^31-1");
        // an output with more than 2^31-1 elements
        iae(op, () -> b.conv2d(f(b, 1, 2, 1, 1), f(b, 3, 2, 1, 1), null, ConvParams.of(1, 30000)),
                "[1, 3, 60001, 60001]", "more than 2^31-1 elements");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void conv2dBackwardData(Backend b) {
        String op = "conv2dBackwardData";
        Tensor dy = f(b, 1, 3, 5, 5), w = f(b, 3, 2, 3, 3);
        int[] xs = {1, 2, 5, 5};
        ConvParams p = ConvParams.of(1, 1);
        tensorArgs(b, op, t -> b.conv2dBackwardData(t[0], t[1], xs, p), req("dy", dy), req("w", w));

        iae(op, () -> b.conv2dBackwardData(f(b, 1, 3, 4, 4), w, xs, p),
                "dy FLOAT32[1, 3, 4, 4] must have shape [1, 3, 5, 5]");
        iae(op, () -> b.conv2dBackwardData(dy, w, xs, ConvParams.of(2, 1)),
                "dy FLOAT32[1, 3, 5, 5] must have shape [1, 3, 3, 3]");
        iae(op, () -> b.conv2dBackwardData(f(b, 2, 3, 5, 5), w, xs, p), "must have shape [1, 3, 5, 5]");
        iae(op, () -> b.conv2dBackwardData(f(b, 3, 5, 5), w, xs, p), "dy must be FLOAT32 of rank 4, got FLOAT32[3, 5, 5]");
        iae(op, () -> b.conv2dBackwardData(dy, w, null, p), "xShape must have 4 dimensions, got null");
        iae(op, () -> b.conv2dBackwardData(dy, w, new int[] {2, 5, 5}, p), "xShape must have 4 dimensions, got [2, 5, 5]");
        iae(op, () -> b.conv2dBackwardData(dy, w, new int[] {1, 2, -5, 5}, p), "negative dimension", "[1, 2, -5, 5]");
        iae(op, () -> b.conv2dBackwardData(dy, w, new int[] {1, 4, 5, 5}, p), "input channels per group", "x [1, 4, 5, 5]");
        iae(op, () -> b.conv2dBackwardData(dy, w, new int[] {1, 2, 2, 2}, ConvParams.of(1, 0)),
                "kernel larger than the padded input");
        iae(op, () -> b.conv2dBackwardData(dy, w, xs, null), "ConvParams is null");
        iae(op, () -> b.conv2dBackwardData(dy, w, xs, ConvParams.of(1, Integer.MAX_VALUE)), "padded input larger");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void conv2dBackwardWeight(Backend b) {
        String op = "conv2dBackwardWeight";
        Tensor dy = f(b, 1, 3, 5, 5), x = f(b, 1, 2, 5, 5);
        int[] ws = {3, 2, 3, 3};
        ConvParams p = ConvParams.of(1, 1);
        tensorArgs(b, op, t -> b.conv2dBackwardWeight(t[0], t[1], ws, p), req("dy", dy), req("x", x));

        iae(op, () -> b.conv2dBackwardWeight(dy, x, new int[] {3, 2, 0, 3}, p), "weight dimensions must be >= 1");
        iae(op, () -> b.conv2dBackwardWeight(dy, x, new int[] {3, 2, 3}, p), "wShape must have 4 dimensions, got [3, 2, 3]");
        iae(op, () -> b.conv2dBackwardWeight(dy, x, null, p), "wShape must have 4 dimensions, got null");
        iae(op, () -> b.conv2dBackwardWeight(dy, x, new int[] {3, -2, 3, 3}, p), "negative dimension", "[3, -2, 3, 3]");
        iae(op, () -> b.conv2dBackwardWeight(dy, x, ws, ConvParams.of(1, 1, 2)), "groups 2 must divide C_in 2 and C_out 3");
        iae(op, () -> b.conv2dBackwardWeight(dy, x, new int[] {3, 1, 3, 3}, p),
                "w has 1 input channels per group but x has 2 channels");
        iae(op, () -> b.conv2dBackwardWeight(f(b, 1, 4, 5, 5), x, ws, p),
                "dy FLOAT32[1, 4, 5, 5] must have shape [1, 3, 5, 5]");
        iae(op, () -> b.conv2dBackwardWeight(dy, f(b, 2, 25), ws, p), "x must be FLOAT32 of rank 4, got FLOAT32[2, 25]");
        iae(op, () -> b.conv2dBackwardWeight(dy, x, ws, null), "ConvParams is null");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void biasBackward(Backend b) {
        String op = "biasBackward";
        tensorArgs(b, op, t -> b.biasBackward(t[0]), req("dy", f(b, 2, 3, 4)));
        try (Tensor db = b.biasBackward(f(b, 2, 3))) {
            assertArrayEquals(new int[] {3}, db.shape());
        }
        iae(op, () -> b.biasBackward(f(b, 3)), "dy must have rank >= 2 (channels on axis 1), got FLOAT32[3]");
        iae(op, () -> b.biasBackward(z(b, DType.FLOAT32)), "got FLOAT32[]");
    }

    // ---------------------------------------------------------------- linear

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void linear(Backend b) {
        String op = "linear";
        Tensor x = f(b, 2, 4), w = f(b, 3, 4), bias = f(b, 3);
        tensorArgs(b, op, t -> b.linear(t[0], t[1], t[2]), req("x", x), req("w", w), opt("bias", bias));

        iae(op, () -> b.linear(f(b, 2, 5), w, bias), "x FLOAT32[2, 5] has 5 features but w FLOAT32[3, 4] expects 4");
        iae(op, () -> b.linear(x, f(b, 3, 5), bias), "has 4 features but w FLOAT32[3, 5] expects 5");
        iae(op, () -> b.linear(x, w, f(b, 4)), "bias FLOAT32[4] must have 3 elements");
        iae(op, () -> b.linear(x, w, f(b, 3, 1)), "bias must be FLOAT32 of rank 1, got FLOAT32[3, 1]");
        iae(op, () -> b.linear(f(b, 2, 4, 1), w, bias), "x must be FLOAT32 of rank 2, got FLOAT32[2, 4, 1]");
        iae(op, () -> b.linear(x, f(b, 12), bias), "w must be FLOAT32 of rank 2, got FLOAT32[12]");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void linearBackwardData(Backend b) {
        String op = "linearBackwardData";
        Tensor dy = f(b, 2, 3), w = f(b, 3, 4);
        tensorArgs(b, op, t -> b.linearBackwardData(t[0], t[1]), req("dy", dy), req("w", w));
        iae(op, () -> b.linearBackwardData(f(b, 2, 4), w), "dy FLOAT32[2, 4] does not match w FLOAT32[3, 4]");
        iae(op, () -> b.linearBackwardData(dy, f(b, 3, 4, 1)), "w must be FLOAT32 of rank 2, got FLOAT32[3, 4, 1]");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void linearBackwardWeight(Backend b) {
        String op = "linearBackwardWeight";
        Tensor dy = f(b, 2, 3), x = f(b, 2, 4);
        tensorArgs(b, op, t -> b.linearBackwardWeight(t[0], t[1]), req("dy", dy), req("x", x));
        iae(op, () -> b.linearBackwardWeight(dy, f(b, 3, 4)),
                "dy FLOAT32[2, 3] and x FLOAT32[3, 4] have different batch sizes");
        iae(op, () -> b.linearBackwardWeight(f(b, 6), x), "dy must be FLOAT32 of rank 2, got FLOAT32[6]");
    }

    // ---------------------------------------------------------------- batch norm

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void batchNorm2dTrain(Backend b) {
        String op = "batchNorm2dTrain";
        Tensor x = f(b, 2, 3, 2, 2), gamma = f(b, 3), beta = f(b, 3);
        Tensor rm = fv(b, new float[] {0.1f, 0.2f, 0.3f}, 3), rv = fv(b, new float[] {1f, 2f, 3f}, 3);
        tensorArgs(b, op, t -> b.batchNorm2dTrain(t[0], t[1], t[2], t[3], t[4], 0.1f, 1e-5f),
                req("x", x), req("gamma", gamma), req("beta", beta), req("runningMean", rm), req("runningVar", rv));

        // From here on every call is refused: the running statistics must not move.
        float[] rmBefore = rm.toFloatArray(), rvBefore = rv.toFloatArray();
        String[] names = {"gamma", "beta", "runningMean", "runningVar"};
        for (int i = 0; i < 4; i++) {
            Tensor[] v = {gamma, beta, rm, rv};
            v[i] = f(b, 4);
            iae(op, () -> b.batchNorm2dTrain(x, v[0], v[1], v[2], v[3], 0.1f, 1e-5f),
                    names[i] + " FLOAT32[4] must have 3 channels");
            v[i] = f(b, 1, 3);
            iae(op, () -> b.batchNorm2dTrain(x, v[0], v[1], v[2], v[3], 0.1f, 1e-5f),
                    names[i] + " must be FLOAT32 of rank 1, got FLOAT32[1, 3]");
        }
        iae(op, () -> b.batchNorm2dTrain(f(b, 2, 3, 4), gamma, beta, rm, rv, 0.1f, 1e-5f),
                "x must be FLOAT32 of rank 4, got FLOAT32[2, 3, 4]");
        for (float m : new float[] {-0.1f, 1.5f, Float.NaN}) {
            iae(op, () -> b.batchNorm2dTrain(x, gamma, beta, rm, rv, m, 1e-5f), "momentum must be in [0, 1], got " + m);
        }
        for (float eps : new float[] {0f, -1e-5f, Float.NaN, Float.POSITIVE_INFINITY}) {
            iae(op, () -> b.batchNorm2dTrain(x, gamma, beta, rm, rv, 0.1f, eps),
                    "eps must be positive and finite, got " + eps);
        }
        iae(op, () -> b.batchNorm2dTrain(f(b, 1, 3, 1, 1), gamma, beta, rm, rv, 0.1f, 1e-5f),
                "more than one value per channel", "FLOAT32[1, 3, 1, 1]");
        // in-place statistics that share memory would be updated twice (and differently per backend)
        iae(op, () -> b.batchNorm2dTrain(x, gamma, beta, rm, rm, 0.1f, 1e-5f),
                "runningMean and runningVar must not share memory");
        iae(op, () -> b.batchNorm2dTrain(x, gamma, beta, rm, rm.reshape(3), 0.1f, 1e-5f),
                "runningMean and runningVar must not share memory");
        assertArrayEquals(rmBefore, rm.toFloatArray(), "a refused call changed runningMean");
        assertArrayEquals(rvBefore, rv.toFloatArray(), "a refused call changed runningVar");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void batchNorm2dEval(Backend b) {
        String op = "batchNorm2dEval";
        Tensor x = f(b, 2, 3, 2, 2), gamma = f(b, 3), beta = f(b, 3), rm = f(b, 3);
        Tensor rv = fv(b, new float[] {1f, 2f, 3f}, 3);
        tensorArgs(b, op, t -> b.batchNorm2dEval(t[0], t[1], t[2], t[3], t[4], 1e-5f),
                req("x", x), req("gamma", gamma), req("beta", beta), req("runningMean", rm), req("runningVar", rv));
        iae(op, () -> b.batchNorm2dEval(x, gamma, beta, rm, f(b, 2), 1e-5f), "runningVar FLOAT32[2] must have 3 channels");
        iae(op, () -> b.batchNorm2dEval(x, f(b, 4), beta, rm, rv, 1e-5f), "gamma FLOAT32[4] must have 3 channels");
        iae(op, () -> b.batchNorm2dEval(x, gamma, beta, rm, rv, Float.NaN), "eps must be positive and finite, got NaN");
        iae(op, () -> b.batchNorm2dEval(x, gamma, beta, rm, rv, 0f), "eps must be positive and finite, got 0.0");
        iae(op, () -> b.batchNorm2dEval(f(b, 2, 3), gamma, beta, rm, rv, 1e-5f),
                "x must be FLOAT32 of rank 4, got FLOAT32[2, 3]");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void batchNorm2dBackward(Backend b) {
        String op = "batchNorm2dBackward";
        Tensor dy = f(b, 2, 3, 2, 2), x = f(b, 2, 3, 2, 2), gamma = f(b, 3), mean = f(b, 3);
        Tensor invStd = fv(b, new float[] {1f, 0.5f, 2f}, 3);
        tensorArgs(b, op, t -> b.batchNorm2dBackward(t[0], t[1], t[2], t[3], t[4]),
                req("dy", dy), req("x", x), req("gamma", gamma), req("mean", mean), req("invStd", invStd));
        iae(op, () -> b.batchNorm2dBackward(f(b, 2, 3, 2, 1), x, gamma, mean, invStd),
                "dy FLOAT32[2, 3, 2, 1] must have shape [2, 3, 2, 2]");
        iae(op, () -> b.batchNorm2dBackward(dy, x, gamma, mean, f(b, 2)), "invStd FLOAT32[2] must have 3 channels");
        iae(op, () -> b.batchNorm2dBackward(dy, x, gamma, f(b, 1, 3), invStd),
                "mean must be FLOAT32 of rank 1, got FLOAT32[1, 3]");
        iae(op, () -> b.batchNorm2dBackward(dy, x, f(b, 6), mean, invStd), "gamma FLOAT32[6] must have 3 channels");
        iae(op, () -> b.batchNorm2dBackward(f(b, 2, 3, 4), x, gamma, mean, invStd), "dy must be FLOAT32 of rank 4");
    }

    // ---------------------------------------------------------------- activations, pooling, add

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void reluAndRelu6(Backend b) {
        tensorArgs(b, "relu", t -> b.relu(t[0]), req("x", f(b, 2, 3)));
        tensorArgs(b, "relu6", t -> b.relu6(t[0]), req("x", f(b, 2, 3)));
        iae("relu", () -> b.relu(ints(b, new int[] {1, -1}, 2)), "x must be FLOAT32, got INT32[2]");
        iae("relu6", () -> b.relu6(bytes(b, DType.UINT8, 2, 2)), "x must be FLOAT32, got UINT8[2, 2]");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void reluBackwardAndRelu6Backward(Backend b) {
        Tensor dy = f(b, 2, 3), x = f(b, 2, 3);
        tensorArgs(b, "reluBackward", t -> b.reluBackward(t[0], t[1]),
                req("first operand", dy), req("second operand", x));
        tensorArgs(b, "relu6Backward", t -> b.relu6Backward(t[0], t[1]),
                req("first operand", dy), req("second operand", x));
        iae("reluBackward", () -> b.reluBackward(dy, f(b, 3, 2)), "shapes differ: FLOAT32[2, 3] vs FLOAT32[3, 2]");
        iae("relu6Backward", () -> b.relu6Backward(f(b, 6), x), "shapes differ: FLOAT32[6] vs FLOAT32[2, 3]");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void add(Backend b) {
        Tensor a = f(b, 2, 3), c = f(b, 2, 3);
        tensorArgs(b, "add", t -> b.add(t[0], t[1]), req("first operand", a), req("second operand", c));
        iae("add", () -> b.add(a, f(b, 2, 3, 1)), "shapes differ: FLOAT32[2, 3] vs FLOAT32[2, 3, 1]");
        iae("add", () -> b.add(f(b, 3), a), "shapes differ: FLOAT32[3] vs FLOAT32[2, 3]");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void avgPool2d(Backend b) {
        String op = "avgPool2d";
        Tensor x = f(b, 1, 2, 4, 4);
        tensorArgs(b, op, t -> b.avgPool2d(t[0], 2, 2, 0), req("x", x));
        iae(op, () -> b.avgPool2d(f(b, 2, 4, 4), 2, 2, 0), "x must be FLOAT32 of rank 4, got FLOAT32[2, 4, 4]");
        iae(op, () -> b.avgPool2d(x, 0, 1, 0), "kernel 0, stride 1, pad 0 invalid");
        iae(op, () -> b.avgPool2d(x, 2, 0, 0), "kernel 2, stride 0, pad 0 invalid");
        iae(op, () -> b.avgPool2d(x, 2, 1, -1), "kernel 2, stride 1, pad -1 invalid");
        iae(op, () -> b.avgPool2d(x, 3, 1, 2), "kernel 3, stride 1, pad 2 invalid");
        iae(op, () -> b.avgPool2d(x, 7, 1, 1), "kernel 7 larger than the padded input [1, 2, 4, 4]");
        // 2 * pad overflows an int: must still be refused, not pool over nothing
        iae(op, () -> b.avgPool2d(f(b, 1, 2, 5, 5), 3, 1, Integer.MAX_VALUE), "pad 2147483647 invalid");
        iae(op, () -> b.avgPool2d(x, Integer.MAX_VALUE, 1, 1 << 30), "pad 1073741824 invalid");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void avgPool2dBackward(Backend b) {
        String op = "avgPool2dBackward";
        Tensor dy = f(b, 1, 2, 2, 2);
        int[] xs = {1, 2, 4, 4};
        tensorArgs(b, op, t -> b.avgPool2dBackward(t[0], xs, 2, 2, 0), req("dy", dy));
        iae(op, () -> b.avgPool2dBackward(f(b, 1, 2, 3, 3), xs, 2, 2, 0),
                "dy FLOAT32[1, 2, 3, 3] must have shape [1, 2, 2, 2]");
        iae(op, () -> b.avgPool2dBackward(dy, new int[] {1, 3, 4, 4}, 2, 2, 0), "must have shape [1, 3, 2, 2]");
        iae(op, () -> b.avgPool2dBackward(dy, null, 2, 2, 0), "xShape must have 4 dimensions, got null");
        iae(op, () -> b.avgPool2dBackward(dy, new int[] {2, 4, 4}, 2, 2, 0), "xShape must have 4 dimensions, got [2, 4, 4]");
        iae(op, () -> b.avgPool2dBackward(dy, new int[] {1, 2, -4, 4}, 2, 2, 0), "negative dimension", "[1, 2, -4, 4]");
        iae(op, () -> b.avgPool2dBackward(dy, xs, 0, 2, 0), "kernel 0, stride 2, pad 0 invalid");
        iae(op, () -> b.avgPool2dBackward(dy, xs, 3, 1, Integer.MAX_VALUE), "pad 2147483647 invalid");
        iae(op, () -> b.avgPool2dBackward(f(b, 2, 2, 2), xs, 2, 2, 0), "dy must be FLOAT32 of rank 4");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void adaptiveAvgPool2d(Backend b) {
        String op = "adaptiveAvgPool2d";
        Tensor x = f(b, 1, 2, 5, 5);
        tensorArgs(b, op, t -> b.adaptiveAvgPool2d(t[0], 2, 2), req("x", x));
        iae(op, () -> b.adaptiveAvgPool2d(x, 0, 2), "output size 0x2 must be in 1..5x5 for x FLOAT32[1, 2, 5, 5]");
        iae(op, () -> b.adaptiveAvgPool2d(x, 2, 6), "output size 2x6 must be in 1..5x5");
        iae(op, () -> b.adaptiveAvgPool2d(x, -1, -1), "output size -1x-1");
        iae(op, () -> b.adaptiveAvgPool2d(f(b, 2, 25), 1, 1), "x must be FLOAT32 of rank 4, got FLOAT32[2, 25]");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void adaptiveAvgPool2dBackward(Backend b) {
        String op = "adaptiveAvgPool2dBackward";
        Tensor dy = f(b, 1, 2, 2, 2);
        int[] xs = {1, 2, 5, 5};
        tensorArgs(b, op, t -> b.adaptiveAvgPool2dBackward(t[0], xs), req("dy", dy));
        iae(op, () -> b.adaptiveAvgPool2dBackward(f(b, 1, 2, 6, 2), xs),
                "dy FLOAT32[1, 2, 6, 2] is not an adaptive pooling of [1, 2, 5, 5]");
        iae(op, () -> b.adaptiveAvgPool2dBackward(f(b, 2, 2, 2, 2), xs), "dy FLOAT32[2, 2, 2, 2] is not an adaptive");
        iae(op, () -> b.adaptiveAvgPool2dBackward(f(b, 1, 3, 2, 2), xs), "dy FLOAT32[1, 3, 2, 2] is not an adaptive");
        iae(op, () -> b.adaptiveAvgPool2dBackward(f(b, 1, 2, 0, 2), xs), "dy FLOAT32[1, 2, 0, 2] is not an adaptive");
        iae(op, () -> b.adaptiveAvgPool2dBackward(dy, new int[] {1, 2, 5}), "xShape must have 4 dimensions, got [1, 2, 5]");
        iae(op, () -> b.adaptiveAvgPool2dBackward(dy, new int[] {1, 2, 5, -5}), "negative dimension", "[1, 2, 5, -5]");
        iae(op, () -> b.adaptiveAvgPool2dBackward(dy, null), "xShape must have 4 dimensions, got null");
    }

    // ---------------------------------------------------------------- loss and optimizer

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void sgdSteps(Backend b) {
        String op = "sgdSteps";
        Tensor p1 = fv(b, new float[] {1, 2}, 2), g1 = fv(b, new float[] {0.5f, -1}, 2), m1 = z(b, DType.FLOAT32, 2);
        Tensor p2 = fv(b, new float[] {3}, 1), g2 = fv(b, new float[] {2}, 1), m2 = z(b, DType.FLOAT32, 1);
        Tensor flag = z(b, DType.FLOAT32, 1);
        SgdParams sp = new SgdParams(0.1f, 0.9f, 0f, false);
        b.sgdSteps(List.of(p1, p2), List.of(g1, g2), List.of(m1, m2), List.of(sp, sp), flag);
        assertArrayEquals(new float[] {0.95f, 2.1f}, p1.toFloatArray(), 1e-6f);
        assertArrayEquals(new float[] {2.8f}, p2.toFloatArray(), 1e-6f);
        assertArrayEquals(new float[] {0f}, flag.toFloatArray(), "every value finite: the flag stays 0");
        b.sgdSteps(List.of(p2), List.of(g2), List.of(m2), List.of(new SgdParams(3e38f, 0f, 0f, false)), flag);
        assertArrayEquals(new float[] {1f}, flag.toFloatArray(), "an update that overflows sets the flag");

        iae(op, () -> b.sgdSteps(null, List.of(), List.of(), List.of(), flag),
                "params, grads, buffers and hyper must not be null");
        iae(op, () -> b.sgdSteps(List.of(p1), List.of(g1), List.of(), List.of(sp), flag),
                "need one grad, buffer and SgdParams per param: got 1 params, 1 grads, 0 buffers, 1 SgdParams");
        iae(op, () -> b.sgdSteps(List.of(p1), List.of(g1), List.of(m1), List.of(sp), z(b, DType.FLOAT32, 2)),
                "nonFinite FLOAT32[2] must have shape [1]");
        iae("sgdSteps (tensor 1)", () -> b.sgdSteps(List.of(p1, p2), List.of(g1, g1), List.of(m1, m2), List.of(sp, sp),
                flag), "shapes differ");
        iae(op, () -> b.sgdSteps(List.of(p1, p1), List.of(g1, g1), List.of(m1, z(b, DType.FLOAT32, 2)),
                List.of(sp, sp), flag), "param and buffer 1 must not share memory");
        iae(op, () -> b.sgdSteps(List.of(p1), List.of(m1), List.of(m1), List.of(sp), flag),
                "grad 0 must not share memory with a param, a buffer or nonFinite");
        iae(op, () -> b.sgdSteps(List.of(p2), List.of(g2), List.of(flag), List.of(sp), flag),
                "param and buffer 0 must not share memory");
        iae(op, () -> b.sgdSteps(List.of(p1), List.of(g1), List.of(m1), java.util.Arrays.asList((SgdParams) null), flag),
                "SgdParams 0 is null");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void accumulateConfusion(Backend b) {
        String op = "accumulateConfusion";
        Tensor logits = fv(b, new float[] {1, 5, 2, 9, 0, Float.NaN}, 2, 3), labels = ints(b, new int[] {2, 0}, 2);
        Tensor counts = z(b, DType.FLOAT32, 3, 3);
        b.accumulateConfusion(logits, labels, counts);
        assertArrayEquals(new float[] {1, 0, 0, 0, 0, 0, 0, 1, 0}, counts.toFloatArray(), "row 0 predicts 1, row 1 0");
        tensorArgs(b, op, t -> {
            b.accumulateConfusion(t[0], t[1], t[2]);
            return null;
        }, req("logits", logits), req("labels", labels), req("counts", z(b, DType.FLOAT32, 3, 3)));

        iae(op, () -> b.accumulateConfusion(logits, ints(b, new int[] {0, 3}, 2), counts),
                "label 3 at index 1 is outside 0..2");
        iae(op, () -> b.accumulateConfusion(logits, ints(b, new int[] {0}, 1), counts), "labels INT32[1] must have shape [2]");
        iae(op, () -> b.accumulateConfusion(logits, labels, z(b, DType.FLOAT32, 3, 2)),
                "counts FLOAT32[3, 2] must have shape [3, 3]");
        Tensor square = fv(b, new float[9], 3, 3);
        iae(op, () -> b.accumulateConfusion(square, ints(b, new int[] {0, 1, 2}, 3), square.reshape(3, 3)),
                "counts must not share memory with logits");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void augmentBatch(Backend b) {
        String op = "augmentBatch";
        Tensor images = bytes(b, DType.UINT8, 3, 2, 4, 4), labels = ints(b, new int[] {7, 8, 9}, 3), table = f(b, 2, 256);
        int[] index = {2, 0}, corner = {1, 2};
        boolean[] flip = {true, false};
        tensorArgs(b, op, t -> b.augmentBatch(t[0], t[1], index, corner, corner, flip, 1, t[2]), req("images", images),
                req("labels", labels), req("table", table));
        try (var batch = b.augmentBatch(images, labels, index, corner, corner, flip, 1, table)) {
            assertArrayEquals(new int[] {2, 2, 4, 4}, batch.images().shape());
            assertArrayEquals(new int[] {9, 7}, batch.labels().toIntArray());
        }

        iae(op, () -> b.augmentBatch(images, labels, new int[] {0, 3}, corner, corner, flip, 1, table),
                "index 3 at batch position 1 is outside 0..2");
        iae(op, () -> b.augmentBatch(images, labels, new int[] {-1, 0}, corner, corner, flip, 1, table),
                "index -1 at batch position 0 is outside 0..2");
        iae(op, () -> b.augmentBatch(images, labels, index, new int[] {3, 0}, corner, flip, 1, table),
                "crop corner (3, 1) at batch position 0 is outside [0, 2] for padding 1");
        iae(op, () -> b.augmentBatch(images, labels, index, corner, new int[] {0, -1}, flip, 1, table),
                "crop corner (2, -1) at batch position 1 is outside [0, 2] for padding 1");
        iae(op, () -> b.augmentBatch(images, labels, index, corner, corner, flip, -1, table),
                "padding must be in 0..16383, got -1");
        iae(op, () -> b.augmentBatch(images, labels, index, corner, corner, flip, 1 << 14, table),
                "padding must be in 0..16383, got 16384");
        iae(op, () -> b.augmentBatch(images, labels, index, corner, corner, new boolean[1], 1, table),
                "one entry per image of the batch (at least one), got 2, 2, 2 and 1");
        iae(op, () -> b.augmentBatch(images, labels, new int[0], new int[0], new int[0], new boolean[0], 1, table),
                "one entry per image of the batch (at least one), got 0, 0, 0 and 0");
        iae(op, () -> b.augmentBatch(images, labels, null, corner, corner, flip, 1, table),
                "index, top, left and flip must not be null");
        iae(op, () -> b.augmentBatch(bytes(b, DType.UINT8, 3, 2, 4), labels, index, corner, corner, flip, 1, table),
                "images must be UINT8 [N,C,H,W], got UINT8[3, 2, 4]");
        iae(op, () -> b.augmentBatch(images, ints(b, new int[] {1, 2}, 2), index, corner, corner, flip, 1, table),
                "labels INT32[2] must have shape [3]");
        iae(op, () -> b.augmentBatch(images, labels, index, corner, corner, flip, 1, f(b, 3, 256)),
                "table FLOAT32[3, 256] must have shape [2, 256]");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void softmaxCrossEntropy(Backend b) {
        String op = "softmaxCrossEntropy";
        Tensor logits = f(b, 2, 3), labels = ints(b, new int[] {0, 2}, 2);
        tensorArgs(b, op, t -> b.softmaxCrossEntropy(t[0], t[1], 0.1f), req("logits", logits), req("labels", labels));

        iae(op, () -> b.softmaxCrossEntropy(logits, ints(b, new int[] {0, 3}, 2), 0f), "label 3 at index 1 is outside 0..2");
        iae(op, () -> b.softmaxCrossEntropy(logits, ints(b, new int[] {-1, 0}, 2), 0f), "label -1 at index 0 is outside 0..2");
        iae(op, () -> b.softmaxCrossEntropy(logits, ints(b, new int[] {0, 1, 2}, 3), 0f),
                "labels INT32[3] must be [2] for logits FLOAT32[2, 3]");
        iae(op, () -> b.softmaxCrossEntropy(logits, ints(b, new int[] {0, 1}, 2, 1), 0f), "labels INT32[2, 1] must be [2]");
        iae(op, () -> b.softmaxCrossEntropy(logits, bytes(b, DType.INT8, 2), 0f), "labels must be INT32, got INT8[2]");
        iae(op, () -> b.softmaxCrossEntropy(f(b, 6), labels, 0f), "logits must be FLOAT32 of rank 2, got FLOAT32[6]");
        iae(op, () -> b.softmaxCrossEntropy(z(b, DType.FLOAT32, 0, 3), z(b, DType.INT32, 0), 0f),
                "logits FLOAT32[0, 3] must have at least one row and one class");
        iae(op, () -> b.softmaxCrossEntropy(z(b, DType.FLOAT32, 2, 0), labels, 0f),
                "logits FLOAT32[2, 0] must have at least one row and one class");
        for (float eps : new float[] {-0.1f, 1.5f, Float.NaN}) {
            iae(op, () -> b.softmaxCrossEntropy(logits, labels, eps), "label smoothing must be in [0, 1], got " + eps);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void sgdStep(Backend b) {
        String op = "sgdStep";
        float[] p0 = {1, 2, 3, 4, 5, 6}, g0 = {0.5f, -0.25f, 1.5f, -2f, 0.75f, 3f};
        Tensor param = fv(b, p0, 2, 3), grad = fv(b, g0, 2, 3), buf = z(b, DType.FLOAT32, 2, 3);
        SgdParams sp = new SgdParams(0.1f, 0.9f, 0f, false);
        // exactly one valid step happens in here; every other call is refused
        tensorArgs(b, op, t -> {
            b.sgdStep(t[0], t[1], t[2], sp);
            return null;
        }, req("first operand", param), req("second operand", grad), req("second operand", buf));

        iae(op, () -> b.sgdStep(param, grad, buf, null), "SgdParams is null");
        iae(op, () -> b.sgdStep(param, f(b, 3, 2), buf, sp), "shapes differ: FLOAT32[2, 3] vs FLOAT32[3, 2]");
        iae(op, () -> b.sgdStep(param, grad, f(b, 6), sp), "shapes differ: FLOAT32[2, 3] vs FLOAT32[6]");
        iae(op, () -> b.sgdStep(param, param, buf, sp), "param must not share memory with grad or momentumBuffer");
        iae(op, () -> b.sgdStep(param, grad, param.reshape(2, 3), sp), "param must not share memory");
        iae(op, () -> b.sgdStep(grad.reshape(2, 3), grad, buf, sp), "param must not share memory");

        float[] expected = new float[6];
        for (int i = 0; i < 6; i++) {
            expected[i] = p0[i] - 0.1f * g0[i]; // buf was zero: buf = g, p -= lr * buf
        }
        assertArrayEquals(expected, param.toFloatArray(), 1e-6f, "exactly one (the valid) step must have happened");
        assertArrayEquals(g0, buf.toFloatArray(), "momentum buffer after one step");
        assertArrayEquals(g0, grad.toFloatArray(), "grad must never be written");
    }

    // ---------------------------------------------------------------- quantizers

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void actQuant(Backend b) {
        String op = "actQuant";
        Tensor x = f(b, 2, 3), alpha = fv(b, new float[] {2f}, 1);
        ActQuantizer pact = ActQuantizer.pact(4);
        tensorArgs(b, op, t -> b.actQuant(t[0], pact, t[1]), req("x", x), req("alpha", alpha));

        iae(op, () -> b.actQuant(x, ActQuantizer.mpact(3), null), "alpha is null");
        iae(op, () -> b.actQuant(x, ActQuantizer.dorefa(4), alpha), "DOREFA has no learnable alpha; pass null");
        iae(op, () -> b.actQuant(x, ActQuantizer.fixedClip(4, 6f), alpha), "FIXED_CLIP has no learnable alpha");
        iae(op, () -> b.actQuant(x, pact, f(b, 2)), "PACT needs alpha as a FLOAT32 [1] tensor, got FLOAT32[2]");
        iae(op, () -> b.actQuant(x, pact, f(b, 1, 1)), "PACT needs alpha as a FLOAT32 [1] tensor, got FLOAT32[1, 1]");
        iae(op, () -> b.actQuant(x, ActQuantizer.mpact(4), z(b, DType.FLOAT32)), "MPACT needs alpha", "got FLOAT32[]");
        iae(op, () -> b.actQuant(x, null, alpha), "quantizer is null");
        iae(op, () -> b.actQuant(ints(b, new int[] {1, 2}, 2), ActQuantizer.dorefa(4), null), "x must be FLOAT32, got INT32[2]");
        try (Tensor y = b.actQuant(x, ActQuantizer.dorefa(4), null)) {
            assertArrayEquals(new int[] {2, 3}, y.shape());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void actQuantBackward(Backend b) {
        String op = "actQuantBackward";
        Tensor dy = f(b, 2, 3), x = f(b, 2, 3), alpha = fv(b, new float[] {1.5f}, 1);
        ActQuantizer mpact = ActQuantizer.mpact(3);
        tensorArgs(b, op, t -> b.actQuantBackward(t[0], t[1], mpact, t[2]),
                req("first operand", dy), req("second operand", x), req("alpha", alpha));
        iae(op, () -> b.actQuantBackward(dy, f(b, 3, 2), mpact, alpha), "shapes differ: FLOAT32[2, 3] vs FLOAT32[3, 2]");
        iae(op, () -> b.actQuantBackward(dy, x, ActQuantizer.fixedClip(2, 1f), alpha), "FIXED_CLIP has no learnable alpha");
        iae(op, () -> b.actQuantBackward(dy, x, mpact, f(b, 2)), "MPACT needs alpha as a FLOAT32 [1] tensor, got FLOAT32[2]");
        iae(op, () -> b.actQuantBackward(dy, x, ActQuantizer.pact(2), null), "alpha is null");
        iae(op, () -> b.actQuantBackward(dy, x, null, alpha), "quantizer is null");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void weightQuant(Backend b) {
        String op = "weightQuant";
        Tensor w = f(b, 3, 4);
        tensorArgs(b, op, t -> b.weightQuant(t[0], 4), req("w", w));
        for (int bits : new int[] {0, 17, -1, 31, Integer.MIN_VALUE}) {
            iae(op, () -> b.weightQuant(w, bits), "weight bit width " + bits + " is outside 1..16 and not 32");
        }
        for (int bits : new int[] {1, 2, 16, 32}) {
            closeResult(assertDoesNotThrow(() -> b.weightQuant(w, bits), "bits " + bits));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void weightQuantBackward(Backend b) {
        String op = "weightQuantBackward";
        Tensor dwq = f(b, 3, 4), w = f(b, 3, 4);
        tensorArgs(b, op, t -> b.weightQuantBackward(t[0], t[1], 4),
                req("first operand", dwq), req("second operand", w));
        iae(op, () -> b.weightQuantBackward(dwq, f(b, 4, 3), 4), "shapes differ: FLOAT32[3, 4] vs FLOAT32[4, 3]");
        for (int bits : new int[] {0, 17, -1}) {
            iae(op, () -> b.weightQuantBackward(dwq, w, bits), "weight bit width " + bits + " is outside 1..16");
        }
    }

    // ---------------------------------------------------------------- integer inference

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void conv2dInt(Backend b) {
        String op = "conv2dInt";
        Tensor x = bytes(b, DType.INT8, 1, 2, 5, 5), w = bytes(b, DType.INT8, 3, 2, 3, 3);
        ConvParams p = ConvParams.of(1, 1);
        tensorArgs(b, op, t -> b.conv2dInt(t[0], t[1], p), req("x", x), req("w", w));

        try (Tensor acc = b.conv2dInt(bytes(b, DType.UINT8, 1, 2, 5, 5), w, p)) {
            assertEquals(DType.INT32, acc.dtype());
        }
        iae(op, () -> b.conv2dInt(x, bytes(b, DType.UINT8, 3, 2, 3, 3), p),
                "w must be INT8 [Cout,Cin/groups,kH,kW], got UINT8[3, 2, 3, 3]");
        iae(op, () -> b.conv2dInt(f(b, 1, 2, 5, 5), w, p), "x must be INT8 or UINT8 [N,C,H,W], got FLOAT32[1, 2, 5, 5]");
        iae(op, () -> b.conv2dInt(z(b, DType.INT32, 1, 2, 5, 5), w, p), "got INT32[1, 2, 5, 5]");
        iae(op, () -> b.conv2dInt(bytes(b, DType.INT8, 2, 5, 5), w, p), "x must be INT8 or UINT8", "got INT8[2, 5, 5]");
        iae(op, () -> b.conv2dInt(x, bytes(b, DType.INT8, 3, 18), p), "w must be INT8", "got INT8[3, 18]");
        iae(op, () -> b.conv2dInt(x, bytes(b, DType.INT8, 3, 4, 3, 3), p), "input channels per group", "w [3, 4, 3, 3]");
        iae(op, () -> b.conv2dInt(x, bytes(b, DType.INT8, 3, 2, 6, 6), ConvParams.of(1, 0)), "kernel larger");
        iae(op, () -> b.conv2dInt(x, w, null), "ConvParams is null");
        // |acc| <= K * 255 * 128 < 2^31 holds up to K = 65793
        try (Tensor acc = b.conv2dInt(bytes(b, DType.UINT8, 1, 65793, 1, 1), bytes(b, DType.INT8, 1, 65793, 1, 1),
                ConvParams.of(1, 0))) {
            assertArrayEquals(new int[] {1, 1, 1, 1}, acc.shape());
        }
        iae(op, () -> b.conv2dInt(bytes(b, DType.UINT8, 1, 65794, 1, 1), bytes(b, DType.INT8, 1, 65794, 1, 1),
                ConvParams.of(1, 0)), "reduction length 65794 could overflow an int32 accumulator");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void gemmInt(Backend b) {
        String op = "gemmInt";
        Tensor a = bytes(b, DType.INT8, 2, 3), m = bytes(b, DType.INT8, 3, 4);
        tensorArgs(b, op, t -> b.gemmInt(t[0], t[1]), req("a", a), req("b", m));

        try (Tensor c = b.gemmInt(a, bytes(b, DType.UINT8, 3, 4))) {
            assertArrayEquals(new int[] {2, 4}, c.shape());
        }
        iae(op, () -> b.gemmInt(bytes(b, DType.UINT8, 2, 3), m), "a must be INT8 [M,K], got UINT8[2, 3]");
        iae(op, () -> b.gemmInt(a, z(b, DType.INT32, 3, 4)), "b must be INT8 or UINT8 [K,N], got INT32[3, 4]");
        iae(op, () -> b.gemmInt(bytes(b, DType.INT8, 2, 3, 1), m), "a must be INT8 [M,K], got INT8[2, 3, 1]");
        iae(op, () -> b.gemmInt(a, bytes(b, DType.INT8, 12)), "got INT8[12]");
        iae(op, () -> b.gemmInt(a, bytes(b, DType.INT8, 4, 4)), "inner dimensions differ: a INT8[2, 3], b INT8[4, 4]");
        iae(op, () -> b.gemmInt(bytes(b, DType.INT8, 1, 65794), bytes(b, DType.INT8, 65794, 1)),
                "K = 65794 could overflow an int32 accumulator");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void requantize(Backend b) {
        String op = "requantize";
        int[] accValues = new int[12];
        for (int i = 0; i < 12; i++) {
            accValues[i] = (i - 6) * 1000;
        }
        Tensor acc = ints(b, accValues, 1, 3, 2, 2);
        Tensor mult = ints(b, new int[] {1 << 20, 3 << 18, 5 << 17}, 3), shift = ints(b, new int[] {20, 21, 22}, 3);
        Tensor bias = ints(b, new int[] {1, 2, 3}, 3);
        Rounding r = Rounding.HALF_EVEN;
        tensorArgs(b, op, t -> b.requantize(t[0], t[1], t[2], t[3], r, -128, 127, DType.INT8),
                req("acc", acc), req("multiplier", mult), req("shift", shift), opt("bias", bias));

        iae(op, () -> b.requantize(acc, mult, ints(b, new int[] {-1, 2, 3}, 3), bias, r, -128, 127, DType.INT8),
                "shift -1 is outside 0..62");
        iae(op, () -> b.requantize(acc, mult, ints(b, new int[] {1, 63, 3}, 3), bias, r, -128, 127, DType.INT8),
                "shift 63 is outside 0..62");
        closeResult(assertDoesNotThrow(() -> b.requantize(acc, mult, ints(b, new int[] {62, 0, 1}, 3), bias, r,
                -128, 127, DType.INT8), "shifts 0 and 62 are allowed"));
        iae(op, () -> b.requantize(acc, ints(b, new int[] {1, 2}, 2), shift, bias, r, -128, 127, DType.INT8),
                "multiplier INT32[2] must be [3] or [1] for acc INT32[1, 3, 2, 2]");
        iae(op, () -> b.requantize(acc, ints(b, new int[] {1, 2, 3}, 1, 3), shift, bias, r, -128, 127, DType.INT8),
                "multiplier INT32[1, 3] must be [3] or [1]");
        iae(op, () -> b.requantize(acc, ints(b, new int[] {1 << 20}, 1), shift, null, r, -128, 127, DType.INT8),
                "shift INT32[3] must have the multiplier's shape [1]");
        closeResult(assertDoesNotThrow(() -> b.requantize(acc, ints(b, new int[] {1 << 20}, 1),
                ints(b, new int[] {20}, 1), null, r, -128, 127, DType.INT8), "one multiplier for all channels"));
        iae(op, () -> b.requantize(acc, mult, ints(b, new int[] {1, 2}, 2), bias, r, -128, 127, DType.INT8),
                "shift INT32[2] must have the multiplier's shape [3]");
        iae(op, () -> b.requantize(acc, mult, shift, ints(b, new int[] {1, 2}, 2), r, -128, 127, DType.INT8),
                "bias INT32[2] must have the multiplier's shape [3]");
        iae(op, () -> b.requantize(acc, mult, shift, bias, null, -128, 127, DType.INT8), "rounding is null");
        iae(op, () -> b.requantize(acc, mult, shift, bias, r, 10, -10, DType.INT8), "clamp [10, -10] does not fit INT8");
        iae(op, () -> b.requantize(acc, mult, shift, bias, r, -129, 127, DType.INT8), "clamp [-129, 127] does not fit INT8");
        iae(op, () -> b.requantize(acc, mult, shift, bias, r, -128, 128, DType.INT8), "clamp [-128, 128] does not fit INT8");
        iae(op, () -> b.requantize(acc, mult, shift, bias, r, -1, 255, DType.UINT8), "clamp [-1, 255] does not fit UINT8");
        iae(op, () -> b.requantize(acc, mult, shift, bias, r, 0, 256, DType.UINT8), "clamp [0, 256] does not fit UINT8");
        try (Tensor y = b.requantize(acc, mult, shift, bias, r, 0, 255, DType.UINT8)) {
            assertEquals(DType.UINT8, y.dtype());
        }
        try (Tensor y = b.requantize(acc, mult, shift, bias, r, Integer.MIN_VALUE, Integer.MAX_VALUE, DType.INT32)) {
            assertEquals(DType.INT32, y.dtype());
        }
        iae(op, () -> b.requantize(acc, mult, shift, bias, r, -128, 127, DType.FLOAT32),
                "output dtype must be INT8, UINT8 or INT32, got FLOAT32");
        iae(op, () -> b.requantize(acc, mult, shift, bias, r, -128, 127, null), "got null");
        iae(op, () -> b.requantize(z(b, DType.INT32), mult, shift, bias, r, -128, 127, DType.INT8),
                "acc must have rank >= 1, got INT32[]");
        iae(op, () -> b.requantize(ints(b, new int[5], 5), mult, shift, bias, r, -128, 127, DType.INT8),
                "multiplier INT32[3] must be [1] or [1] for acc INT32[5]");
    }

    // ---------------------------------------------------------------- parameter records

    @Test
    void convParamsConstructor() {
        thrown(IllegalArgumentException.class, "ConvParams: ", () -> new ConvParams(0, 1, 0, 0, 1),
                "stride must be >= 1, got 0x1");
        thrown(IllegalArgumentException.class, "ConvParams: ", () -> new ConvParams(1, -3, 0, 0, 1), "got 1x-3");
        thrown(IllegalArgumentException.class, "ConvParams: ", () -> ConvParams.of(0, 0), "stride must be >= 1");
        thrown(IllegalArgumentException.class, "ConvParams: ", () -> new ConvParams(1, 1, -1, 0, 1),
                "padding must be >= 0, got -1x0");
        thrown(IllegalArgumentException.class, "ConvParams: ", () -> ConvParams.of(1, -2), "got -2x-2");
        thrown(IllegalArgumentException.class, "ConvParams: ", () -> ConvParams.of(1, 0, 0), "groups must be >= 1, got 0");
        thrown(IllegalArgumentException.class, "ConvParams: ", () -> ConvParams.of(1, 0, -4), "got -4");
        ConvParams ok = new ConvParams(2, 1, 0, 3, 4);
        assertEquals(2, ok.outH(5, 2));
        assertEquals(9, ok.outW(5, 3));
    }

    @Test
    void sgdParamsConstructor() {
        String p = "SgdParams: ";
        thrown(IllegalArgumentException.class, p, () -> new SgdParams(-0.1f, 0f, 0f, false),
                "learning rate must be finite and >= 0, got -0.1");
        thrown(IllegalArgumentException.class, p, () -> new SgdParams(Float.NaN, 0f, 0f, false), "got NaN");
        thrown(IllegalArgumentException.class, p, () -> new SgdParams(Float.POSITIVE_INFINITY, 0f, 0f, false), "got Infinity");
        thrown(IllegalArgumentException.class, p, () -> new SgdParams(0.1f, 1f, 0f, false),
                "momentum must be in [0, 1), got 1.0");
        thrown(IllegalArgumentException.class, p, () -> new SgdParams(0.1f, -0.5f, 0f, false), "got -0.5");
        thrown(IllegalArgumentException.class, p, () -> new SgdParams(0.1f, Float.NaN, 0f, false), "momentum", "NaN");
        thrown(IllegalArgumentException.class, p, () -> new SgdParams(0.1f, 0.9f, -1f, false),
                "weight decay must be finite and >= 0, got -1.0");
        thrown(IllegalArgumentException.class, p, () -> new SgdParams(0.1f, 0.9f, Float.NaN, false), "weight decay");
        thrown(IllegalArgumentException.class, p, () -> new SgdParams(0.1f, 0f, 0f, true), "Nesterov needs a momentum > 0");
        assertDoesNotThrow(() -> new SgdParams(0f, 0.999f, 5e-4f, true));
    }

    @Test
    void actQuantizerConstructor() {
        String p = "ActQuantizer: ";
        for (int bits : new int[] {0, 17, -1, 31}) {
            thrown(IllegalArgumentException.class, p, () -> ActQuantizer.pact(bits),
                    "bit width " + bits + " is outside 1..16 and not 32");
            thrown(IllegalArgumentException.class, p, () -> ActQuantizer.dorefa(bits), "bit width " + bits);
        }
        thrown(IllegalArgumentException.class, p, () -> ActQuantizer.mpact(1), "MPACT needs at least 2 bits");
        for (float clip : new float[] {0f, -1f, Float.NaN, Float.POSITIVE_INFINITY}) {
            thrown(IllegalArgumentException.class, p, () -> ActQuantizer.fixedClip(4, clip),
                    "FIXED_CLIP needs a positive finite clip, got " + clip);
        }
        thrown(IllegalArgumentException.class, p, () -> new ActQuantizer(null, 4, 0f), "kind is null");
        assertDoesNotThrow(() -> ActQuantizer.pact(1));
        assertDoesNotThrow(() -> ActQuantizer.mpact(2));
        assertDoesNotThrow(() -> ActQuantizer.dorefa(32));
        assertDoesNotThrow(() -> ActQuantizer.fixedClip(16, 6f));
        // the clip is irrelevant for kinds other than FIXED_CLIP
        assertDoesNotThrow(() -> new ActQuantizer(ActQuantizer.Kind.PACT, 4, Float.NaN));
    }

    @Test
    void cpuIsaInstances() {
        int[] levels = CpuBackend.availableIsaLevels();
        thrown(IllegalArgumentException.class, "cpu backend: ", () -> CpuBackend.forIsa(-1),
                "ISA level -1 is not available");
        thrown(IllegalArgumentException.class, "cpu backend: ", () -> CpuBackend.forIsa(levels.length),
                "ISA level " + levels.length + " is not available");
        RefBackend ref = RefBackend.INSTANCE;
        Tensor rx = keep(ref.fromBytes(new byte[] {1, -2, 3, -4, 5, -6, 7, -8, 9, -10, 11, -12}, DType.INT8, 1, 3, 2, 2));
        Tensor rw = keep(ref.fromBytes(new byte[] {2, -3, 4, -5, 6, -7}, DType.INT8, 2, 3, 1, 1));
        int[] expected = keep(ref.conv2dInt(rx, rw, ConvParams.of(1, 0))).toIntArray();
        for (int level : levels) {
            CpuBackend cpu = CpuBackend.forIsa(level);
            assertSame(cpu, CpuBackend.forIsa(level));
            Tensor x = keep(cpu.copyFrom(rx)), w = keep(cpu.copyFrom(rw));
            // tensors belong to the instance that made them, even between ISA levels of the same backend
            for (int otherLevel : levels) {
                if (otherLevel != level) {
                    Tensor foreign = keep(CpuBackend.forIsa(otherLevel).copyFrom(rx));
                    iae("conv2dInt", () -> cpu.conv2dInt(foreign, w, ConvParams.of(1, 0)), "x INT8[1, 3, 2, 2]",
                            "lives on another instance of backend 'cpu'", CpuBackend.isaName(otherLevel));
                }
            }
            Tensor dead = cpu.copyFrom(rx);
            dead.close();
            ise("conv2dInt (x): ", () -> cpu.conv2dInt(dead, w, ConvParams.of(1, 0)), "INT8[1, 3, 2, 2] is closed");
            iae("conv2dInt", () -> cpu.conv2dInt(x, keep(cpu.fromBytes(new byte[4], DType.INT8, 2, 2, 1, 1)), ConvParams.of(1, 0)),
                    "w has 2 input channels per group but x has 3 channels");
            try (Tensor acc = cpu.conv2dInt(x, w, ConvParams.of(1, 0))) {
                assertArrayEquals(expected, acc.toIntArray(), "ISA " + CpuBackend.isaName(level));
            }
        }
    }

    // ---------------------------------------------------------------- still alive and correct afterwards

    @Order(Integer.MAX_VALUE) // after every other test of this class
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void stillComputesCorrectlyAfterRefusedCalls(Backend b) {
        float[] canaryValues = {1.5f, -2.5f, 3.25f, -4f, 0f, 6.125f, -7f, 8f};
        Tensor canary = fv(b, canaryValues, 2, 4);
        Tensor x = f(b, 1, 2, 5, 5), w = f(b, 3, 2, 3, 3);
        ConvParams p = ConvParams.of(1, 1);
        Backend other = other(b);
        for (int round = 0; round < 20; round++) {
            Tensor dead = b.fromFloats(new float[50], 1, 2, 5, 5);
            dead.close();
            assertThrows(IllegalStateException.class, () -> b.conv2d(dead, w, null, p));
            assertThrows(IllegalStateException.class, () -> b.actQuant(dead, ActQuantizer.dorefa(4), null));
            assertThrows(IllegalStateException.class, () -> b.sgdStep(dead, x, x, new SgdParams(0.1f, 0f, 0f, false)));
            assertThrows(IllegalStateException.class, dead::toFloatArray);
            assertThrows(IllegalArgumentException.class, () -> b.conv2d(x, f(b, 3, 4, 3, 3), null, p));
            assertThrows(IllegalArgumentException.class,
                    () -> b.conv2d(f(b, 1, 2, 1, 1), f(b, 3, 2, 1, 1), null, ConvParams.of(1, 30000)));
            assertThrows(IllegalArgumentException.class, () -> b.avgPool2d(x, 3, 1, Integer.MAX_VALUE));
            assertThrows(IllegalArgumentException.class, () -> b.conv2dBackwardData(f(b, 1, 3, 4, 4), w, x.shape(), p));
            assertThrows(IllegalArgumentException.class, () -> b.readFloats(keep(other.copyFrom(x))));
            assertThrows(IllegalArgumentException.class, () -> b.fromFloats(new float[5], 2, 3));
            assertThrows(IllegalArgumentException.class, () -> b.zeros(DType.FLOAT32, 3, -3));
            assertThrows(IllegalArgumentException.class,
                    () -> b.gemmInt(bytes(b, DType.INT8, 2, 3), bytes(b, DType.INT8, 4, 2)));
            assertThrows(IllegalArgumentException.class, () -> b.requantize(ints(b, new int[4], 1, 4),
                    ints(b, new int[3], 3), ints(b, new int[3], 3), null, Rounding.FLOOR, 0, 255, DType.UINT8));
            assertThrows(IllegalArgumentException.class, () -> b.actQuant(canary, ActQuantizer.pact(4), f(b, 2)));
            assertThrows(IllegalArgumentException.class, () -> b.sgdStep(canary, canary, f(b, 2, 4),
                    new SgdParams(0.1f, 0f, 0f, false)));
            assertDoesNotThrow(dead::close);
        }

        // A conv small enough to check by hand: y = x[i][j] + 2 x[i][j+1] - x[i+1][j+1] + 0.5 = 6i + 2j + 0.5.
        Tensor hx = fv(b, new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3);
        Tensor hw = fv(b, new float[] {1, 2, 0, -1}, 1, 1, 2, 2);
        try (Tensor y = b.conv2d(hx, hw, fv(b, new float[] {0.5f}, 1), ConvParams.of(1, 0))) {
            assertArrayEquals(new int[] {1, 1, 2, 2}, y.shape());
            assertArrayEquals(new float[] {0.5f, 2.5f, 6.5f, 8.5f}, y.toFloatArray());
        }

        // A grouped, strided, padded conv and the native act quantizer agree with the reference backend.
        RefBackend ref = RefBackend.INSTANCE;
        Tensor gx = f(b, 2, 4, 6, 6), gw = f(b, 6, 2, 3, 3), gb = f(b, 6);
        ConvParams gp = ConvParams.of(2, 1, 2);
        try (Tensor y = b.conv2d(gx, gw, gb, gp);
             Tensor expected = ref.conv2d(ref.copyFrom(gx), ref.copyFrom(gw), ref.copyFrom(gb), gp)) {
            assertArrayEquals(new int[] {2, 6, 3, 3}, y.shape());
            float[] want = expected.toFloatArray(), got = y.toFloatArray();
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], got[i], 1e-5f * (1f + Math.abs(want[i])), "element " + i);
            }
        }
        Tensor alpha = fv(b, new float[] {1.25f}, 1);
        try (Tensor y = b.actQuant(gx, ActQuantizer.pact(3), alpha);
             Tensor expected = ref.actQuant(ref.copyFrom(gx), ActQuantizer.pact(3), ref.copyFrom(alpha))) {
            assertArrayEquals(expected.toFloatArray(), y.toFloatArray());
        }
        assertArrayEquals(canaryValues, canary.toFloatArray(), "a tensor allocated before the refused calls changed");
    }
}
