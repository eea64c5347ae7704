package dev.qat4j.checkpoint;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadFeature;
import dev.qat4j.tensor.DType;
import dev.qat4j.tensor.Shape;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The JSON header of a checkpoint file: written with Jackson's generator, read with its streaming parser (so a
 * hostile 16 MiB header costs at most what is kept, never a tree of it), strictly: duplicate keys, unknown keys,
 * missing keys, wrong value types, out-of-range numbers and trailing content are refused with the line and column.
 * Only what can be checked without the file size is checked here; {@link CheckpointIO} fits the table to the file.
 */
final class HeaderJson {
    private static final JsonFactory FACTORY = JsonFactory.builder()
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .build();

    /** One tensor-table entry as written in the header (length checked against shape x dtype). */
    record Entry(String name, DType dtype, int[] shape, int numel, long offset, long length) {
    }

    record Parsed(int format, String model, Map<String, Object> meta, List<Entry> tensors) {
    }

    private HeaderJson() {
    }

    // ---- writing ----------------------------------------------------------------------------------------------

    /** The header's UTF-8 bytes, padded with spaces so that the data section starts at a multiple of 8. */
    static byte[] encode(Checkpoint c, int version) {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (JsonGenerator g = FACTORY.createGenerator(bos, JsonEncoding.UTF8)) {
            g.writeStartObject();
            g.writeNumberField("format", version);
            g.writeStringField("model", c.model());
            g.writeObjectFieldStart("meta");
            for (Map.Entry<String, Object> e : c.meta().entrySet()) {
                g.writeFieldName(e.getKey());
                Object v = e.getValue();
                if (v instanceof Long l) {
                    g.writeNumber(l);
                } else if (v instanceof Double d) {
                    g.writeNumber(d);
                } else {
                    g.writeString((String) v);
                }
            }
            g.writeEndObject();
            g.writeArrayFieldStart("tensors");
            long offset = 0;
            for (Map.Entry<String, Checkpoint.TensorData> e : c.tensors().entrySet()) {
                Checkpoint.TensorData t = e.getValue();
                g.writeStartObject();
                g.writeStringField("name", e.getKey());
                g.writeStringField("dtype", t.dtype().name());
                g.writeArrayFieldStart("shape");
                for (int d : t.shape()) {
                    g.writeNumber(d);
                }
                g.writeEndArray();
                g.writeNumberField("offset", offset);
                g.writeNumberField("length", t.byteLength());
                g.writeEndObject();
                offset += t.byteLength();
            }
            g.writeEndArray();
            g.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException("writing a checkpoint header to memory", e);
        }
        int pad = (int) ((8 - (CheckpointIO.PREAMBLE_BYTES + bos.size()) % 8) % 8);
        for (int i = 0; i < pad; i++) {
            bos.write(' ');
        }
        return bos.toByteArray();
    }

    // ---- reading ----------------------------------------------------------------------------------------------

    static Parsed parse(CheckpointIO.Origin file, byte[] bytes) throws CheckpointFormatException {
        String text;
        ByteBuffer in = ByteBuffer.wrap(bytes);
        try {
            CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
            text = dec.decode(in).toString();
        } catch (CharacterCodingException e) {
            throw file.error("header is not valid UTF-8 at file offset "
                + (CheckpointIO.PREAMBLE_BYTES + in.position()));
        }
        try (JsonParser p = FACTORY.createParser(text)) {
            return new Reader(file, p).root();
        } catch (CheckpointFormatException e) {
            throw e;
        } catch (JsonProcessingException e) {
            throw file.error("header JSON error" + at(e.getLocation()) + ": "
                + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw file.error("header JSON error: " + e.getMessage(), e);
        }
    }

    private static String at(JsonLocation l) {
        return l == null ? "" : " at line " + l.getLineNr() + ", column " + l.getColumnNr();
    }

    private static final class Reader {
        private final CheckpointIO.Origin file;
        private final JsonParser p;

        Reader(CheckpointIO.Origin file, JsonParser p) {
            this.file = file;
            this.p = p;
        }

        private CheckpointFormatException err(String what) {
            return file.error("header" + at(p.currentTokenLocation()) + ": " + what);
        }

        private JsonToken next() throws IOException {
            JsonToken t = p.nextToken();
            if (t == null) {
                throw err("unexpected end of the JSON header");
            }
            return t;
        }

        Parsed root() throws IOException {
            JsonToken first = p.nextToken();
            if (first != JsonToken.START_OBJECT) {
                throw err(first == null ? "the header is empty, but it must be a JSON object"
                    : "the header must be a JSON object, got " + describe());
            }
            Integer format = null;
            String model = null;
            Map<String, Object> meta = null;
            List<Entry> tensors = null;
            while (next() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                next();
                switch (key) {
                    case "format" -> format = format();
                    case "model" -> model = nonEmptyString("model");
                    case "meta" -> meta = meta();
                    case "tensors" -> tensors = tensors();
                    default -> throw err("unknown key '" + key + "' (a version " + CheckpointIO.VERSION
                        + " header has exactly format, model, meta, tensors)");
                }
            }
            if (p.nextToken() != null) {
                throw err("content after the header object");
            }
            List<String> missing = new ArrayList<>();
            if (format == null) {
                missing.add("format");
            }
            if (model == null) {
                missing.add("model");
            }
            if (meta == null) {
                missing.add("meta");
            }
            if (tensors == null) {
                missing.add("tensors");
            }
            if (!missing.isEmpty()) {
                throw file.error("header lacks " + String.join(", ", missing));
            }
            return new Parsed(format, model, meta, tensors);
        }

        private int format() throws IOException {
            if (p.currentToken() != JsonToken.VALUE_NUMBER_INT || p.getNumberType() != JsonParser.NumberType.INT) {
                throw err("format must be an integer, got " + p.getText());
            }
            return p.getIntValue();
        }

        private String nonEmptyString(String what) throws IOException {
            if (p.currentToken() != JsonToken.VALUE_STRING) {
                throw err(what + " must be a string, got " + describe());
            }
            String s = p.getText();
            if (s.isEmpty()) {
                throw err(what + " must not be empty");
            }
            return s;
        }

        private String describe() throws IOException {
            JsonToken t = p.currentToken();
            return switch (t) {
                case START_OBJECT -> "an object";
                case START_ARRAY -> "an array";
                case VALUE_STRING -> "the string \"" + p.getText() + "\"";
                default -> p.getText();
            };
        }

        private Map<String, Object> meta() throws IOException {
            if (p.currentToken() != JsonToken.START_OBJECT) {
                throw err("meta must be an object, got " + describe());
            }
            Map<String, Object> meta = new LinkedHashMap<>();
            while (next() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                if (key.isEmpty()) {
                    throw err("meta has an empty key");
                }
                Object value = switch (next()) {
                    case VALUE_STRING -> p.getText();
                    case VALUE_NUMBER_INT -> {
                        JsonParser.NumberType nt = p.getNumberType();
                        if (nt == JsonParser.NumberType.BIG_INTEGER) {
                            throw err("meta '" + key + "' = " + p.getText() + " is outside the 64-bit integer range");
                        }
                        yield p.getLongValue();
                    }
                    case VALUE_NUMBER_FLOAT -> {
                        double d = p.getDoubleValue();
                        if (!Double.isFinite(d)) {
                            throw err("meta '" + key + "' = " + p.getText() + " is not a finite double");
                        }
                        yield d;
                    }
                    default -> throw err("meta '" + key + "' must be a string or a number, got " + describe());
                };
                meta.put(key, value);
            }
            return meta;
        }

        private List<Entry> tensors() throws IOException {
            if (p.currentToken() != JsonToken.START_ARRAY) {
                throw err("tensors must be an array, got " + describe());
            }
            List<Entry> out = new ArrayList<>();
            Set<String> names = new HashSet<>();
            while (next() != JsonToken.END_ARRAY) {
                Entry e = entry(out.size());
                if (!names.add(e.name())) {
                    throw err("duplicate tensor name '" + e.name() + "'");
                }
                out.add(e);
            }
            return out;
        }

        private Entry entry(int index) throws IOException {
            String where = "tensors[" + index + "]";
            if (p.currentToken() != JsonToken.START_OBJECT) {
                throw err(where + " must be an object, got " + describe());
            }
            String name = null;
            DType dtype = null;
            int[] shape = null;
            long offset = -1;
            long length = -1;
            while (next() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                next();
                switch (key) {
                    case "name" -> {
                        name = nonEmptyString(where + ": name");
                        where = "tensors[" + index + "] ('" + name + "')";
                    }
                    case "dtype" -> dtype = dtype(where);
                    case "shape" -> shape = shape(where);
                    case "offset" -> offset = nonNegativeLong(where + ": offset");
                    case "length" -> length = nonNegativeLong(where + ": length");
                    default -> throw err(where + ": unknown key '" + key
                        + "' (an entry has exactly name, dtype, shape, offset, length)");
                }
            }
            List<String> missing = new ArrayList<>();
            if (name == null) {
                missing.add("name");
            }
            if (dtype == null) {
                missing.add("dtype");
            }
            if (shape == null) {
                missing.add("shape");
            }
            if (offset < 0) {
                missing.add("offset");
            }
            if (length < 0) {
                missing.add("length");
            }
            if (!missing.isEmpty()) {
                throw err(where + " lacks " + String.join(", ", missing));
            }
            long numel = 1;
            for (int d : shape) {
                numel *= d; // d <= 2^31-1 and numel <= 2^31-1 before: no long overflow
                if (numel > Integer.MAX_VALUE) {
                    throw err(where + ": shape " + Arrays.toString(shape) + " has more than 2^31-1 elements");
                }
            }
            long expected = numel * dtype.byteSize();
            if (length != expected) {
                throw err(where + ": length " + length + " does not match shape " + Shape.str(shape) + " x "
                    + dtype + " = " + expected + " bytes");
            }
            return new Entry(name, dtype, shape, (int) numel, offset, length);
        }

        private DType dtype(String where) throws IOException {
            String s = nonEmptyString(where + ": dtype");
            for (DType d : DType.values()) {
                if (d.name().equals(s)) {
                    return d;
                }
            }
            throw err(where + ": unknown dtype \"" + s + "\" (known: " + Arrays.toString(DType.values()) + ")");
        }

        private int[] shape(String where) throws IOException {
            if (p.currentToken() != JsonToken.START_ARRAY) {
                throw err(where + ": shape must be an array, got " + describe());
            }
            int[] dims = new int[4];
            int n = 0;
            while (next() != JsonToken.END_ARRAY) {
                if (n == Checkpoint.MAX_RANK) {
                    throw err(where + ": shape has more than " + Checkpoint.MAX_RANK + " dimensions");
                }
                if (p.currentToken() != JsonToken.VALUE_NUMBER_INT) {
                    throw err(where + ": shape[" + n + "] must be an integer, got " + describe());
                }
                if (p.getNumberType() != JsonParser.NumberType.INT) {
                    throw err(where + ": shape[" + n + "] = " + p.getText() + " is outside the int range");
                }
                int d = p.getIntValue();
                if (d < 0) {
                    throw err(where + ": shape[" + n + "] = " + d + " is negative");
                }
                if (n == dims.length) {
                    dims = Arrays.copyOf(dims, 2 * n);
                }
                dims[n++] = d;
            }
            return Arrays.copyOf(dims, n);
        }

        private long nonNegativeLong(String what) throws IOException {
            if (p.currentToken() != JsonToken.VALUE_NUMBER_INT) {
                throw err(what + " must be an integer, got " + describe());
            }
            if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                throw err(what + " = " + p.getText() + " is outside the 64-bit range");
            }
            long v = p.getLongValue();
            if (v < 0) {
                throw err(what + " = " + v + " is negative");
            }
            return v;
        }
    }
}
