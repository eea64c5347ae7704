package dev.qat4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.data.Cifar10;
import dev.qat4j.data.Dataset;
import dev.qat4j.data.Normalization;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

/**
 * What a model takes and gives: one image's shape (channels, height, width), the normalisation that turns its uint8
 * pixels into the floats the model was trained on, and the names of its classes (their count is the model's output
 * width). Training checkpoints and integer models record it under the meta key {@value #META_KEY}, so a file is
 * usable without knowing the dataset it came from; predictors apply it.
 */
public record InputSpec(int channels, int height, int width, Normalization normalization, List<String> classNames) {
    /** The checkpoint meta key holding {@link #toJson()}. */
    public static final String META_KEY = "input";

    /** CIFAR-10 as the seed uses it: 3 x 32 x 32, its normalisation constants, its ten classes. */
    public static final InputSpec CIFAR10 = new InputSpec(3, 32, 32, Normalization.CIFAR10, Cifar10.CLASS_NAMES);

    private static final ObjectMapper JSON = new ObjectMapper();

    public InputSpec {
        if (channels < 1 || height < 1 || width < 1) {
            throw new IllegalArgumentException("input spec: channels, height and width must be >= 1, got " + channels
                    + " x " + height + " x " + width);
        }
        if ((long) channels * height * width > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("input spec: " + channels + " x " + height + " x " + width
                    + " values per image do not fit an int");
        }
        if (normalization == null || normalization.channels() != channels) {
            throw new IllegalArgumentException("input spec: the normalisation needs one mean and std per channel ("
                    + channels + "), got " + (normalization == null ? "none" : normalization.channels()));
        }
        if (classNames == null || classNames.isEmpty()) {
            throw new IllegalArgumentException("input spec: at least one class name is needed");
        }
        classNames = List.copyOf(classNames); // also refuses null entries
        if (new HashSet<>(classNames).size() != classNames.size() || classNames.stream().anyMatch(String::isBlank)) {
            throw new IllegalArgumentException("input spec: class names must be distinct and not blank, got "
                    + classNames);
        }
    }

    /** {@code classes} classes named "0", "1", ... (for data without names). */
    public static List<String> numberedClasses(int classes) {
        if (classes < 1) {
            throw new IllegalArgumentException("input spec: at least one class is needed, got " + classes);
        }
        List<String> names = new ArrayList<>(classes);
        for (int i = 0; i < classes; i++) {
            names.add(Integer.toString(i));
        }
        return names;
    }

    /**
     * The spec of a user's data set: its image shape, the per-channel mean and std measured on it
     * ({@link Normalization#of(Dataset)}) and classes named "0", "1", ... Measure on the training set and use the
     * same spec for the test set.
     *
     * @param data the training images
     * @return the spec
     */
    public static InputSpec forData(Dataset data) {
        return forData(data, Normalization.of(data), numberedClasses(data.classes()));
    }

    /**
     * The spec of a user's data set with a chosen normalisation (e.g. {@link Normalization#scaleOnly(int)}) and
     * class names.
     *
     * @param data          gives the image shape; its class count must be the number of names
     * @param normalization one mean and std per channel of {@code data}
     * @param classNames    one distinct name per class
     * @return the spec
     */
    public static InputSpec forData(Dataset data, Normalization normalization, List<String> classNames) {
        if (classNames != null && classNames.size() != data.classes()) {
            throw new IllegalArgumentException("input spec: " + data.name() + " has " + data.classes()
                    + " classes but " + classNames.size() + " names were given");
        }
        return new InputSpec(data.channels(), data.height(), data.width(), normalization, classNames);
    }

    /** The number of classes: the model's output width. */
    public int classes() {
        return classNames.size();
    }

    /** {@code [channels, height, width]}, a fresh array. */
    public int[] shape() {
        return new int[] {channels, height, width};
    }

    /** Values of one image: channels x height x width. */
    public int valuesPerImage() {
        return channels * height * width;
    }

    /** {"shape":[c,h,w],"mean":[...],"std":[...],"classes":[...]}: floats written so that they read back exactly. */
    public String toJson() {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode shape = root.putArray("shape");
        shape.add(channels).add(height).add(width);
        ArrayNode mean = root.putArray("mean"), std = root.putArray("std");
        for (float v : normalization.mean()) {
            mean.add(v);
        }
        for (float v : normalization.std()) {
            std.add(v);
        }
        ArrayNode classes = root.putArray("classes");
        classNames.forEach(classes::add);
        return root.toString();
    }

    /** Parses {@link #toJson()}; an IllegalArgumentException names {@code where} and the field that is wrong. */
    public static InputSpec fromJson(String json, String where) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException(where + ": meta '" + META_KEY + "' is not JSON: " + e.getMessage(), e);
        }
        int[] shape = ints(root, "shape", where);
        if (shape.length != 3) {
            throw new IllegalArgumentException(where + ": meta '" + META_KEY + "' shape must be [channels, height, "
                    + "width], got " + root.get("shape"));
        }
        float[] mean = floats(root, "mean", where), std = floats(root, "std", where);
        JsonNode classes = root.get("classes");
        if (classes == null || !classes.isArray()) {
            throw new IllegalArgumentException(where + ": meta '" + META_KEY + "' needs an array 'classes'");
        }
        List<String> names = new ArrayList<>();
        for (JsonNode n : classes) {
            if (!n.isTextual()) {
                throw new IllegalArgumentException(where + ": meta '" + META_KEY + "' classes must be strings, got " + n);
            }
            names.add(n.asText());
        }
        try {
            return new InputSpec(shape[0], shape[1], shape[2], new Normalization(mean, std), names);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": meta '" + META_KEY + "': " + e.getMessage(), e);
        }
    }

    /**
     * The spec a checkpoint records, or {@link #CIFAR10} for files written before the key existed (every model then
     * was a CIFAR-10 model).
     */
    public static InputSpec of(Checkpoint c, String where) {
        String json = c.metaString(META_KEY);
        return json == null ? CIFAR10 : fromJson(json, where);
    }

    private static int[] ints(JsonNode root, String field, String where) {
        JsonNode a = root.get(field);
        if (a == null || !a.isArray()) {
            throw new IllegalArgumentException(where + ": meta '" + META_KEY + "' needs an array '" + field + "'");
        }
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            if (!a.get(i).canConvertToInt() || !a.get(i).isIntegralNumber()) {
                throw new IllegalArgumentException(where + ": meta '" + META_KEY + "' " + field + "[" + i
                        + "] is not an int: " + a.get(i));
            }
            out[i] = a.get(i).intValue();
        }
        return out;
    }

    private static float[] floats(JsonNode root, String field, String where) {
        JsonNode a = root.get(field);
        if (a == null || !a.isArray()) {
            throw new IllegalArgumentException(where + ": meta '" + META_KEY + "' needs an array '" + field + "'");
        }
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) {
            if (!a.get(i).isNumber()) {
                throw new IllegalArgumentException(where + ": meta '" + META_KEY + "' " + field + "[" + i
                        + "] is not a number: " + a.get(i));
            }
            out[i] = a.get(i).floatValue();
        }
        return out;
    }
}
