package dev.qat4j.models;

import dev.qat4j.backend.Backend;
import dev.qat4j.checkpoint.Checkpoint;
import dev.qat4j.nn.Parameter;
import dev.qat4j.tensor.Shape;
import dev.qat4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A model's state as a {@link Checkpoint} and back: every parameter ({@link QuantModel#parameters()}: weights,
 * biases, BN γ/β, the α of PACT/mPACT) and every buffer ({@link QuantModel#buffers()}: BN running statistics),
 * each under its own name ({@code s1.b1.conv.weight}, {@code s1.b1.bn.running_mean}), in the model's order.
 * Gradients are not saved; optimizer state (momentum) belongs to the trainer's own checkpoint entries.
 */
public final class ModelState {
    /** The metadata key under which {@link #save} stores {@link BitWidths#toYaml()}. */
    public static final String BITS_KEY = "bits";

    private ModelState() {
    }

    /**
     * A checkpoint of {@code m} named {@link QuantModel#name()}: {@code meta} (in its order), then
     * {@value #BITS_KEY} = the bit widths as YAML when {@link QuantModel#bits()} is not null,
     * {@link InputSpec#META_KEY} = the model's {@link InputSpec} as JSON, and a copy of every parameter and buffer.
     * A {@code meta} key {@value #BITS_KEY} is refused when the model has bit widths; a {@code meta} value under
     * {@link InputSpec#META_KEY} is replaced by the model's own spec.
     */
    public static Checkpoint save(QuantModel m, Map<String, String> meta) {
        Objects.requireNonNull(m, "model");
        Checkpoint.Builder b = Checkpoint.builder(m.name());
        if (meta != null) {
            if (m.bits() != null && meta.containsKey(BITS_KEY)) {
                throw new IllegalArgumentException("metadata key '" + BITS_KEY + "' is reserved for the bit widths of "
                    + m.name());
            }
            Map<String, String> rest = new LinkedHashMap<>(meta);
            rest.remove(InputSpec.META_KEY); // the model's own spec is what the file must record
            b.meta(rest);
        }
        if (m.bits() != null) {
            b.meta(BITS_KEY, m.bits().toYaml());
        }
        b.meta(InputSpec.META_KEY, m.inputSpec().toJson());
        for (Parameter p : state(m).values()) {
            b.add(p.name(), p.value());
        }
        return b.build();
    }

    /**
     * Loads {@code c} into {@code m} for fine-tuning (the seed's flow: train FP32, then quantize from it). As
     * {@link #load} except that quantizer clips (α parameters) the checkpoint lacks keep their initial values, since an
     * FP32 network has none; every other tensor must be there with its shape, and the models must have the same name.
     * A shared α of tied clips ({@link BitWidths#withTiedResidualClips}) that the checkpoint lacks takes the mean of
     * its quantizers' own α when the checkpoint has every one of them (a checkpoint without the tie), and those
     * tensors are consumed by it. Returns the names left at their initial values.
     */
    public static List<String> loadForFineTune(QuantModel m, Checkpoint c) {
        Objects.requireNonNull(m, "model");
        Objects.requireNonNull(c, "checkpoint");
        Map<String, List<String>> tied = tiedAlphas(m);
        Map<String, Float> folded = new LinkedHashMap<>();
        Checkpoint untied = c;
        List<String> keep = new ArrayList<>();
        for (Map.Entry<String, Parameter> e : state(m).entrySet()) {
            if (e.getValue().kind() != Parameter.Kind.ALPHA || c.tensor(e.getKey()) != null) {
                continue;
            }
            // a tied α the checkpoint lacks starts at the mean of its quantizers' own α where the checkpoint has
            // them all (a checkpoint of the same bit widths without the tie)
            List<String> members = tied.getOrDefault(e.getKey(), List.of());
            if (!members.isEmpty() && members.stream().allMatch(n -> isScalarFloat(c.tensor(n)))) {
                double sum = 0;
                for (String n : members) {
                    sum += c.tensor(n).floats()[0];
                }
                folded.put(e.getKey(), (float) (sum / members.size()));
                untied = without(untied, members);
            }
            keep.add(e.getKey());
        }
        load(m, untied, keep);
        for (Map.Entry<String, Float> e : folded.entrySet()) {
            Parameter p = state(m).get(e.getKey());
            p.setValue(p.value().backend().fromFloats(new float[] {e.getValue()}, 1));
            keep.remove(e.getKey());
        }
        return keep;
    }

    /**
     * The shared α parameters of {@code m} (tied quantizer clips, see {@link BitWidths#withTiedResidualClips}) by
     * name, each with the names its quantizers' own α would have untied ({@code <quantizer>.alpha}), in model order.
     */
    public static Map<String, List<String>> tiedAlphas(QuantModel m) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        collectTied(m.net(), out);
        return out;
    }

    private static void collectTied(dev.qat4j.nn.Module mod, Map<String, List<String>> out) {
        if (mod instanceof dev.qat4j.nn.ActQuant q && q.sharesAlpha()) {
            out.computeIfAbsent(q.alpha().name(), k -> new ArrayList<>()).add(q.name() + ".alpha");
        }
        for (dev.qat4j.nn.Module ch : mod.children()) {
            collectTied(ch, out);
        }
    }

    private static boolean isScalarFloat(Checkpoint.TensorData t) {
        return t != null && t.dtype() == dev.qat4j.tensor.DType.FLOAT32 && t.numel() == 1;
    }

    /** {@code c} without the tensors named in {@code drop} (same model name and metadata). */
    private static Checkpoint without(Checkpoint c, List<String> drop) {
        Checkpoint.Builder b = Checkpoint.builder(c.model()).meta(c.meta());
        for (Map.Entry<String, Checkpoint.TensorData> e : c.tensors().entrySet()) {
            if (!drop.contains(e.getKey())) {
                b.add(e.getKey(), e.getValue());
            }
        }
        return b.build();
    }

    /**
     * Copies the checkpoint's values into {@code m}'s parameters and buffers, each onto the backend it lives on
     * now ({@code parameter.setValue(backend.fromFloats(...))}). Everything is checked first, and every problem
     * is reported in one {@link IllegalArgumentException}: another model name, another {@link InputSpec} (files
     * without one are CIFAR-10's), a tensor of the model missing from the checkpoint, a checkpoint tensor the model
     * does not have, a dtype or shape mismatch. When it throws, the model is unchanged.
     */
    public static void load(QuantModel m, Checkpoint c) {
        load(m, c, List.of());
    }

    /** {@link #load}, leaving the model's tensors named in {@code keep} (absent from the checkpoint) as they are. */
    private static void load(QuantModel m, Checkpoint c, List<String> keep) {
        Objects.requireNonNull(m, "model");
        Objects.requireNonNull(c, "checkpoint");
        if (!m.name().equals(c.model())) {
            throw new IllegalArgumentException("checkpoint is of model '" + c.model() + "', not '" + m.name() + "'");
        }
        Map<String, Parameter> state = state(m);
        state.keySet().removeAll(keep);
        List<String> problems = new ArrayList<>();
        InputSpec recorded = InputSpec.of(c, "checkpoint of model '" + c.model() + "'");
        if (!recorded.equals(m.inputSpec())) {
            problems.add("the checkpoint's input spec " + recorded.toJson() + " is not the model's "
                + m.inputSpec().toJson() + " (build the model with InputSpec.of(checkpoint, where))");
        }
        for (Map.Entry<String, Parameter> e : state.entrySet()) {
            Tensor v = e.getValue().value();
            Checkpoint.TensorData t = c.tensor(e.getKey());
            if (t == null) {
                problems.add("tensor '" + e.getKey() + "' (" + v.dtype() + Shape.str(v.shape())
                    + ") is missing from the checkpoint");
            } else if (t.dtype() != v.dtype() || !Arrays.equals(t.shape(), v.shape())) {
                problems.add("tensor '" + e.getKey() + "' is " + t.dtype() + Shape.str(t.shape())
                    + " in the checkpoint but " + v.dtype() + Shape.str(v.shape()) + " in the model");
            }
        }
        for (String name : c.tensors().keySet()) {
            if (!state.containsKey(name)) {
                problems.add("checkpoint tensor '" + name + "' (" + c.tensor(name) + ") is not in model '"
                    + m.name() + "'");
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("cannot load checkpoint of '" + c.model() + "' into the model: "
                + (problems.size() == 1 ? problems.get(0) : problems.size() + " problems:\n  - "
                + String.join("\n  - ", problems)));
        }
        // make every new tensor before replacing any, so a failing backend leaves the model as it was; copies are
        // handed over so that no backend can ever alias the checkpoint's arrays
        List<Tensor> fresh = new ArrayList<>(state.size());
        try {
            for (Map.Entry<String, Parameter> e : state.entrySet()) {
                Backend be = e.getValue().value().backend();
                Checkpoint.TensorData t = c.tensor(e.getKey());
                int[] shape = t.shape();
                fresh.add(switch (t.dtype()) {
                    case FLOAT32 -> be.fromFloats(t.floats(), shape);
                    case INT8, UINT8 -> be.fromBytes(t.bytes(), t.dtype(), shape);
                    case INT32 -> be.fromInts(t.ints(), shape);
                });
            }
        } catch (RuntimeException | Error e) {
            for (Tensor t : fresh) {
                t.close();
            }
            throw e;
        }
        int i = 0;
        for (Parameter p : state.values()) {
            p.setValue(fresh.get(i++));
        }
    }

    /** Parameters then buffers by name; a model with two tensors of one name cannot be checkpointed. */
    private static Map<String, Parameter> state(QuantModel m) {
        Map<String, Parameter> out = new LinkedHashMap<>();
        List<Parameter> all = new ArrayList<>(m.parameters());
        all.addAll(m.buffers());
        for (Parameter p : all) {
            if (out.put(p.name(), p) != null) {
                throw new IllegalArgumentException("model '" + m.name() + "' has two tensors named '" + p.name()
                    + "': names must be unique to checkpoint it");
            }
        }
        return out;
    }
}
