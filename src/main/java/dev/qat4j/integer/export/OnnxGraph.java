package dev.qat4j.integer.export;

import com.google.protobuf.CodedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A single ONNX graph under construction (nodes, initializers, one input, one float output) and its serialisation as
 * a ModelProto. An initializer written without dims is a rank-0 scalar (ONNX Runtime's QDQ fusions want per-tensor
 * scales and zero points that way).
 *
 * <p>Only the handful of ONNX messages an exported CNN needs are written, field by field, with protobuf-java's
 * {@link CodedOutputStream}: it is the reference wire encoder (varints, packed fields, length prefixes), while
 * generated ONNX classes would need protoc and the whole onnx.proto in the build for seven messages. Field numbers
 * are those of onnx/onnx.proto (IR version 7 = opset 13).
 */
final class OnnxGraph {
    static final long IR_VERSION = 7;
    static final long OPSET = 13;

    // TensorProto.DataType
    static final int FLOAT = 1;
    static final int UINT8 = 2;
    static final int INT8 = 3;
    static final int INT32 = 6;
    static final int INT64 = 7;

    // AttributeProto.AttributeType
    private static final int ATTR_FLOAT = 1;
    private static final int ATTR_INT = 2;
    private static final int ATTR_INTS = 7;

    /** A node attribute: an int, a float or a list of ints. */
    record Attr(String name, int type, long i, float f, long[] ints) {
        static Attr of(String name, long v) {
            return new Attr(name, ATTR_INT, v, 0f, null);
        }

        static Attr of(String name, float v) {
            return new Attr(name, ATTR_FLOAT, 0, v, null);
        }

        static Attr ints(String name, long... v) {
            return new Attr(name, ATTR_INTS, 0, 0f, v.clone());
        }
    }

    private record Node(String op, String name, List<String> inputs, String output, List<Attr> attrs) {
    }

    private record Initializer(String name, int type, long[] dims, byte[] raw) {
    }

    private final String graphName;
    private final List<Node> nodes = new ArrayList<>();
    private final List<Initializer> initializers = new ArrayList<>();
    private final Set<String> names = new HashSet<>();

    OnnxGraph(String graphName) {
        this.graphName = graphName;
    }

    /** A name not used yet, derived from {@code base} (tensor names must be unique in the graph). */
    String fresh(String base) {
        String n = base;
        for (int i = 1; !names.add(n); i++) {
            n = base + "_" + i;
        }
        return n;
    }

    /** Adds a node with one output named after {@code base}; returns the output's name. */
    String node(String op, String base, List<String> inputs, Attr... attrs) {
        String out = fresh(base);
        nodes.add(new Node(op, out, List.copyOf(inputs), out, List.of(attrs)));
        return out;
    }

    String floats(String base, float[] v, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        return initializer(base, FLOAT, dims, b.array());
    }

    /** int8 (signed) or uint8 codes, one byte each. */
    String bytes(String base, int type, int[] v, long... dims) {
        byte[] raw = new byte[v.length];
        for (int i = 0; i < v.length; i++) {
            raw[i] = (byte) v[i];
        }
        return initializer(base, type, dims, raw);
    }

    /** int32 values (e.g. a convolution's bias in accumulator units), little-endian. */
    String int32s(String base, int[] v, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asIntBuffer().put(v);
        return initializer(base, INT32, dims, b.array());
    }

    private String initializer(String base, int type, long[] dims, byte[] raw) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        int width = type == FLOAT || type == INT32 ? 4 : type == INT64 ? 8 : 1;
        if (n * width != raw.length) {
            throw new IllegalArgumentException("onnx export: initializer " + base + " has " + raw.length
                    + " bytes for dims " + java.util.Arrays.toString(dims));
        }
        String name = fresh(base);
        initializers.add(new Initializer(name, type, dims.clone(), raw));
        return name;
    }

    /**
     * The ModelProto: input {@code input} of element type {@code inType} (a TensorProto.DataType) and shape
     * [N, inShape...], float output {@code output} of shape [N, outShape...], N a symbolic batch dimension.
     */
    byte[] model(String input, int inType, int[] inShape, String output, int[] outShape, String producerVersion) {
        return model(input, inType, inShape, output, FLOAT, outShape, producerVersion);
    }

    /** As above with an output of element type {@code outType}. */
    byte[] model(String input, int inType, int[] inShape, String output, int outType, int[] outShape,
                 String producerVersion) {
        return message(m -> {
            m.writeInt64(1, IR_VERSION);
            m.writeString(2, "qat4j");
            m.writeString(3, producerVersion);
            m.writeByteArray(7, graph(input, inType, inShape, output, outType, outShape));
            m.writeByteArray(8, message(o -> { // OperatorSetIdProto, default domain ""
                o.writeString(1, "");
                o.writeInt64(2, OPSET);
            }));
        });
    }

    private byte[] graph(String input, int inType, int[] inShape, String output, int outType, int[] outShape) {
        return message(g -> {
            for (Node n : nodes) {
                g.writeByteArray(1, node(n));
            }
            g.writeString(2, graphName);
            for (Initializer t : initializers) {
                g.writeByteArray(5, tensor(t));
            }
            g.writeByteArray(11, valueInfo(input, inType, inShape));
            g.writeByteArray(12, valueInfo(output, outType, outShape));
        });
    }

    private static byte[] node(Node n) {
        return message(m -> {
            for (String in : n.inputs()) {
                m.writeString(1, in);
            }
            m.writeString(2, n.output());
            m.writeString(3, n.name());
            m.writeString(4, n.op());
            for (Attr a : n.attrs()) {
                m.writeByteArray(5, attribute(a));
            }
        });
    }

    private static byte[] attribute(Attr a) {
        return message(m -> {
            m.writeString(1, a.name());
            switch (a.type()) {
                case ATTR_FLOAT -> m.writeFloat(2, a.f());
                case ATTR_INT -> m.writeInt64(3, a.i());
                case ATTR_INTS -> {
                    for (long v : a.ints()) {
                        m.writeInt64(8, v);
                    }
                }
                default -> throw new AssertionError(a.type());
            }
            m.writeInt32(20, a.type());
        });
    }

    private static byte[] tensor(Initializer t) {
        return message(m -> {
            for (long d : t.dims()) {
                m.writeInt64(1, d);
            }
            m.writeInt32(2, t.type());
            m.writeString(8, t.name());
            m.writeByteArray(9, t.raw()); // raw_data: little-endian, row-major
        });
    }

    /** ValueInfoProto of a tensor of {@code elemType} [N, shape...]. */
    private static byte[] valueInfo(String name, int elemType, int[] shape) {
        byte[] tensorShape = message(s -> {
            s.writeByteArray(1, message(d -> d.writeString(2, "N"))); // dim_param: dynamic batch
            for (int v : shape) {
                s.writeByteArray(1, message(d -> d.writeInt64(1, v)));
            }
        });
        byte[] tensorType = message(t -> {
            t.writeInt32(1, elemType);
            t.writeByteArray(2, tensorShape);
        });
        return message(v -> {
            v.writeString(1, name);
            v.writeByteArray(2, message(type -> type.writeByteArray(1, tensorType)));
        });
    }

    @FunctionalInterface
    private interface Fields {
        void write(CodedOutputStream out) throws IOException;
    }

    /** One message's bytes: an embedded message is written as a length-delimited field holding them. */
    private static byte[] message(Fields fields) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CodedOutputStream out = CodedOutputStream.newInstance(bytes);
        try {
            fields.write(out);
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a ByteArrayOutputStream does not throw
        }
        return bytes.toByteArray();
    }
}
