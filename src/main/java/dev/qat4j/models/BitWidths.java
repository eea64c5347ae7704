package dev.qat4j.models;

import dev.qat4j.quant.ActQuantizer;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The per-layer bit widths of one model, in the seed's own arrays {@code layer_abit} (activations) and
 * {@code layer_wbit} (weights), with the seed's index mapping ({@code algorithms.md} A3). Immutable and validated:
 * an instance always has the model's lengths and only bit widths its quantizers accept, so a model builder can
 * read {@link #abit(int)} / {@link #wbit(int)} without checks. Bit width 32 means "not quantized" everywhere.
 *
 * <p>The arrays are kept exactly as the seed lays them out (rather than one record per layer) so that the
 * README's configurations can be written, compared and published literally. Block i reads its inner activations
 * and input at {@code ain = abit[i]} and writes its output at {@code aout = abit[i+1]}: one abit entry is shared by
 * the output of block i-1 and the inside of block i, which is why "one bit width per block" costs a single entry.
 * {@link #describeIndex(boolean, int)} says what any index stands for. Block names: ToyNet and MobileNetV2 count
 * stages from 0 ({@code s1.b1}, as the A5 ToyNet table), ResNet20 uses the seed's module names ({@code stage2.unit1}).
 * <pre>
 *   model        abit  index: meaning                                          wbit  index: layer
 *   toynet       14    0 input (DoReFa; mPACT with input_act)                  13    0 stem conv3x3 3-&gt;16
 *                      1 stem out = block 1 in (mPACT)                               1..10 block i
 *                      i block i in = block i-1 out, i = 2..10 (mPACT)               11 header conv1x1 64-&gt;512
 *                      11 block 10 out = header in (mPACT)                           12 FC 512-&gt;10
 *                      12 header out and the mPACT before the FC (mPACT)
 *                      13 downsample BN outputs (mPACT; beyond the seed)
 *   mobilenetv2  21    0 input (DoReFa, the seed's actq_input)                 20    0 stem conv3x3 3-&gt;32
 *                      1 stem out (after BN + ReLU) = block 1 in (mPACT)             1..17 block i
 *                      i block i in = block i-1 out, i = 2..17 (mPACT)               18 head conv1x1 320-&gt;1280
 *                      18 block 17 out = head conv in (mPACT)                        19 FC 1280-&gt;10
 *                      19 FC input after avg_pool (DoReFa, the seed's actq_last)
 *                      20 head output after BN + ReLU (mPACT; beyond the seed)
 *   resnet20     11    i = 0..8: every quantizer of block i (DoReFa)           10    i: every conv of block i
 *                      9 stem output (the seed's actq_first; 32 = off, as the seed)  9 stem conv (beyond the seed)
 *                      10 network input (beyond the seed)
 * </pre>
 * MobileNetV2's abit[0]: A3 starts the network at the stem, but the seed's {@code MobileNetv2.py} applies
 * {@code actq_input = activation_quant(layer_abit[0])} to the image first, exactly like ToyNet; its config keeps it
 * at 32. abit[18] is the output of the last block (the head conv's input); the head's own BN + ReLU output is not
 * quantized in the seed; qat4j appends abit[20] for it (32 = off, as the seed).
 *
 * <p>ResNet20 holds one entry per block (0..8) and, last, abit[9] for the stem output's quantizer (off in the seed;
 * placed last so that a 9-entry abit written before it existed still means the same network), then abit[10], the
 * network input, and wbit[9], the stem weights (both beyond the seed, 32 = off: the seed's {@code resnet20_cifar10_Q}
 * has an FP32 stem). The FC (16-bit weights on the pooled input) is fixed by the seed and not adjustable. Every index
 * appended after files were written is 32 in the seed's presets, and a shorter array of an earlier length reads with
 * them off.
 *
 * <p>Beyond the arrays a configuration chooses the activation quantizer kind ({@link #withActivation}: DoReFa,
 * PACT, mPACT, or fixed-clip PACT with its clip; placements in {@link BitLayout}) and, for ResNet20, whether the
 * shortcut branch's output is quantized ({@link #withBranchOutputQuant}).
 *
 * <p>Accepted bit widths are 1..16 and 32 ({@code algorithms.md}: all quantizers assert bit &lt;= 16 or = 32),
 * narrowed per index by the quantizer that reads it ({@link #activationKind(int)}):
 * <pre>
 *   array / quantizer                       accepted          why
 *   wbit (every weight quantizer)           1..16, 32         1 bit is sign(w_n) * mean|w_n| in qat4j (not the seed's NaN)
 *   abit read by DoReFa                     1..16, 32         q_1 has codes {0, 1}
 *   abit read by mPACT                      2..16, 32         codes ±(2^(b-1)-1): b = 1 leaves only 0 (scale 0/α)
 * </pre>
 * So 1-bit activations are refused on every ToyNet index but abit[0], on MobileNetV2's abit[1..18], and allowed
 * on every ResNet20 index and on the DoReFa ends of the other two. A builder that swaps a DoReFa index for mPACT
 * is still guarded by {@link ActQuantizer}'s own check.
 *
 * <p>Presets ({@link #preset(String, String)}), written literally from the seed:
 * <pre>
 *   model        name       abit                                       wbit
 *   toynet       cfg1       [32, 8, 8,8,8, 8,8,8, 8,8,8, 32, 32]       [32, 8, 8,8,8, 8,8,8, 8,8,8, 16, 16]   README cfg-1
 *   toynet       cfg1-star  [32, 8, 8,8,8, 8,8,8, 8,8,8, 8, 16]        [8] * 13                               HEAD "cfg-1*"
 *   toynet       cfg2       as cfg1                                    [32, 8, 6,6,6, 6,6,6, 8,8,8, 16, 16]   w=6 blocks 2-7
 *   toynet       cfg3       [32, 8, 6,6,6, 6,6,6, 6,6,6, 32, 32]       [32, 8, 6,6,6, 6,6,6, 6,6,6, 16, 16]   a/w=6 blocks 2-10
 *   mobilenetv2  cfg1-star  [32, 8 (x17), 32, 32]                      [32, 8 (x17), 16, 16]                  README "cfg-1*"
 *   mobilenetv2  int8/6/4   [32, n (x17), 32, 32]                      [32, n (x17), 16, 16]                  INT-n columns (ends as cfg1-star)
 *   resnet20     int8       [8] * 9 + [32]                             [8] * 9                                README INT8 column (DoReFa)
 *   resnet20     int6       [6] * 9 + [32]                             [6] * 9                                README INT6 column
 *   resnet20     int4       [4] * 9 + [32]                             [4] * 9                                README INT4 column
 *   resnet20     int8-pact  int8 with every activation quantizer PACT  (likewise int6-pact, int4-pact)         README PACT column
 *   resnet20     int8-mpact int8 with every activation quantizer mPACT (likewise int6-mpact, int4-mpact)        README mPACT column
 *   every model  fp32       [32] * n                                   [32] * n                               full precision
 * </pre>
 * and three beyond the seed, whose integer model ({@code dev.qat4j.integer}) has no float part between the
 * normalised image and the logits: every conv reads integer codes, the image itself is quantized by a signed
 * 8-bit mPACT ({@link #withInputActivation}), and no value between two quantizers is wider than an accumulator:
 * <pre>
 *   toynet       cfg1-star-e2e   [8] * 14 (input mPACT; abit[13] downsample BN out)   [8] * 13
 *   mobilenetv2  int8-e2e        [8] * 21, abit[19] = 32 (input mPACT; abit[20] head out)   [8] * 19, wbit[19] = 16
 *   resnet20     int8-mpact-e2e  [8] * 11, mPACT (abit[9] stem out, abit[10] input)  [8] * 10 (wbit[9] stem), FC 16
 *   resnet20     int8-mpact-e2e-tied  int8-mpact-e2e with each stage's residual-stream clips tied
 *                                ({@link #withTiedResidualClips}): every residual add weighs one output code
 * </pre>
 * ({@code cfg1-star} spells the README's "*"; the ResNet20 presets are uniform per block, as the seed's
 * {@code ResNet_CF.py} test config {@code [8]*9}, with stem and FC fixed as above.)
 *
 * <p>Files ({@link #load(Path, String)}, {@link #toYaml()}): YAML or JSON,
 * {@code {model: toynet, base: cfg1, abit: [...] | {index: bits, ...}, wbit: ...}}; see {@link BitWidthsFile}.
 */
public final class BitWidths {
    public static final String TOYNET = "toynet";
    public static final String MOBILENETV2 = "mobilenetv2";
    public static final String RESNET20 = "resnet20";

    /** Bit width meaning "not quantized". */
    public static final int FP = 32;

    /** The kinds a configuration can choose, as written in files, options and preset suffixes. */
    public static final List<String> KIND_NAMES = List.of("dorefa", "pact", "mpact", "fixed-clip");

    /** Array lengths written before indices were appended (see {@link #withAppendedIndices}); before PRESETS. */
    private static final Map<String, int[]> EARLIER_ABIT_LENGTHS = Map.of(TOYNET, new int[] {13},
        MOBILENETV2, new int[] {20}, RESNET20, new int[] {9, 10});
    private static final Map<String, int[]> EARLIER_WBIT_LENGTHS = Map.of(RESNET20, new int[] {9});

    /**
     * ResNet20's residual streams, one per stage, as the abit indices of their quantizers: the values that a block
     * adds as its residual and the block outputs that add them. Stage 0: the stem output (abit[9]), which block 0
     * adds, and the outputs of blocks 0..2 (abit[0..2]), each added by the next block; stages 1 and 2: the shortcut
     * branch output of their first block and the outputs of their three blocks (abit[3..5], abit[6..8]; the
     * shortcut's quantizer reads its block's index). In the integer model a residual adds
     * {@code s_res / s_out = (α_res / α_out) * (codes_out / codes_res)} output codes per residual code, a whole
     * number only when the two quantizers share their clip and bit width.
     */
    static final int[][] RESNET20_RESIDUAL_STREAMS = {{9, 0, 1, 2}, {3, 4, 5}, {6, 7, 8}};

    // after every table presets() reads
    private static final Map<String, Map<String, BitWidths>> PRESETS = presets();

    private final String model;
    private final int[] abit;
    private final int[] wbit;
    /** null: the seed's quantizer kinds (class table); else every choosable activation quantizer is this kind. */
    private final ActQuantizer.Kind activationOverride;
    /** The clip c of a FIXED_CLIP override; 0 for every other kind. */
    private final float activationClip;
    /** ResNet20: whether the shortcut branch's output is quantized (the seed's default; off in its 92.344 row). */
    private final boolean branchOutputQuant;
    /** The kind of the quantizer on the network input; null: the seed's DoReFa (see {@link #withInputActivation}). */
    private final ActQuantizer.Kind inputKind;
    /** ResNet20: whether each stage's residual-stream quantizers share one α (see {@link #withTiedResidualClips}). */
    private final boolean tiedResidualClips;

    /** The seed's {@code act_pactFixed} default clip c = 2 (it also tried 4, 6, 8 and 10). */
    public static final float DEFAULT_FIXED_CLIP = 2f;

    private BitWidths(String model, int[] abit, int[] wbit, ActQuantizer.Kind activationOverride, float activationClip,
                      boolean branchOutputQuant, ActQuantizer.Kind inputKind, boolean tiedResidualClips) {
        this.model = model;
        this.abit = abit;
        this.wbit = wbit;
        this.activationOverride = activationOverride;
        this.activationClip = activationClip;
        this.branchOutputQuant = branchOutputQuant;
        this.inputKind = inputKind;
        this.tiedResidualClips = tiedResidualClips;
        if (tiedResidualClips) {
            checkTie();
        }
    }

    /**
     * Validated bit widths for {@code model}; the arrays are copied. Every problem (length, each bad entry) is
     * reported in one {@link IllegalArgumentException} naming the model, the expected lengths and what the
     * offending indices stand for.
     */
    public static BitWidths of(String model, int[] abit, int[] wbit) {
        BitLayout layout = BitLayout.of(model);
        int[] a = withAppendedIndices(layout, true, abit);
        int[] w = withAppendedIndices(layout, false, wbit);
        List<String> problems = new ArrayList<>();
        check(layout, true, a, null, problems);
        check(layout, false, w, null, problems);
        throwIfAny(layout, problems);
        return new BitWidths(model, a.clone(), w.clone(), null, 0f, true, null, false);
    }

    /**
     * Bit widths from a file's parts ({@link BitWidthsFile}): full arrays, sparse overrides over them, the kind
     * choice and the branch switch, validated together so that a bit width is checked against the kind that will
     * read it (a 1-bit activation is fine for DoReFa even where the seed has mPACT). Every problem is reported at once.
     */
    static BitWidths fromParts(String model, int[] abit, int[] wbit, Map<Integer, Integer> abitOverrides,
                               Map<Integer, Integer> wbitOverrides, ActQuantizer.Kind kind, float clip,
                               boolean branchOutputQuant, ActQuantizer.Kind inputKind, boolean tiedResidualClips) {
        BitLayout layout = BitLayout.of(model);
        List<String> problems = new ArrayList<>();
        int[] a = applyOverrides(layout, true, withAppendedIndices(layout, true, abit), abitOverrides, problems);
        int[] w = applyOverrides(layout, false, withAppendedIndices(layout, false, wbit), wbitOverrides, problems);
        check(layout, true, a, kind, problems);
        check(layout, false, w, null, problems);
        throwIfAny(layout, problems);
        BitWidths seedKinds = new BitWidths(model, a, w, null, 0f, true, null, false);
        return seedKinds.withActivation(kind, clip).withBranchOutputQuant(branchOutputQuant)
            .withInputActivation(inputKind).withTiedResidualClips(tiedResidualClips);
    }

    /**
     * Indices appended after bit-width files and checkpoints were written (ResNet20's abit[9] stem output, abit[10]
     * input and wbit[9] stem weights; ToyNet's abit[13] downsample BN output; MobileNetV2's abit[20] head output) are
     * all off (32) in the seed: an array of an earlier length means the same network with them off, so 32s are
     * appended. Any other length is left for {@link #check} to refuse.
     */
    private static int[] withAppendedIndices(BitLayout layout, boolean activation, int[] bits) {
        int n = layout.length(activation);
        if (bits == null || bits.length >= n) {
            return bits;
        }
        int[] earlier = activation ? EARLIER_ABIT_LENGTHS.getOrDefault(layout.model, new int[0])
            : EARLIER_WBIT_LENGTHS.getOrDefault(layout.model, new int[0]);
        for (int len : earlier) {
            if (bits.length == len) {
                int[] out = Arrays.copyOf(bits, n);
                Arrays.fill(out, len, n, FP);
                return out;
            }
        }
        return bits;
    }


    /** ResNet20's blocks: abit[0..8] and wbit[0..8]; abit[9] is its stem output. */
    static final int RESNET20_BLOCKS = 9;
    /** ResNet20's abit index of the stem-output quantizer (the seed's {@code actq_first}). */
    public static final int RESNET20_STEM_OUTPUT = 9;
    /** ResNet20's abit index of the network-input quantizer and wbit index of the stem conv (both beyond the seed). */
    public static final int RESNET20_INPUT = 10;
    public static final int RESNET20_STEM_WEIGHTS = 9;
    /** ToyNet's abit index of the downsample BN output (beyond the seed). */
    public static final int TOYNET_DOWNSAMPLE_BN = 13;
    /** MobileNetV2's abit index of the head output (beyond the seed). */
    public static final int MOBILENETV2_HEAD_OUTPUT = 20;

    /**
     * These bit widths with every choosable activation quantizer of the model of one kind (see {@link BitLayout}:
     * all but the raw-image DoReFa): DOREFA, PACT, MPACT, or FIXED_CLIP with clip {@code clip} (ignored by the other
     * kinds); null restores the seed's kinds. A kind that is the seed's at every choosable index (DoReFa for ResNet20,
     * mPACT for ToyNet) is the seed's network and is kept as "no choice", so equal configurations compare equal.
     * Every bit width must suit the new kind (mPACT needs 2 bits or more), else an IllegalArgumentException names
     * the index.
     */
    public BitWidths withActivation(ActQuantizer.Kind kind, float clip) {
        float c = kind == ActQuantizer.Kind.FIXED_CLIP ? clip : 0f;
        if (kind == ActQuantizer.Kind.FIXED_CLIP && !(clip > 0f && Float.isFinite(clip))) {
            throw new IllegalArgumentException(model + ": the fixed clip of fixed-clip PACT must be a positive finite "
                + "number, got " + clip);
        }
        BitLayout layout = BitLayout.of(model);
        ActQuantizer.Kind requested = kind;
        if (kind != null && kind != ActQuantizer.Kind.FIXED_CLIP && isSeedKindEverywhere(layout, kind)) {
            kind = null; // e.g. DoReFa for ResNet20: the seed's network, so equal to the preset without a choice
        }
        if (kind == activationOverride && c == activationClip) {
            return this;
        }
        List<String> problems = new ArrayList<>();
        check(layout, true, abit, kind, problems);
        if (!problems.isEmpty()) {
            problems.add(0, model + ": the activation quantizers cannot all be " + kindName(requested)
                + " with these bit widths");
        }
        throwIfAny(layout, problems);
        return new BitWidths(model, abit, wbit, kind, c, branchOutputQuant, inputKind, tiedResidualClips);
    }

    private static boolean isSeedKindEverywhere(BitLayout layout, ActQuantizer.Kind kind) {
        for (int i = 0; i < layout.length(true); i++) {
            if (layout.kindChoosable(i) && layout.activationKind(i) != kind) {
                return false;
            }
        }
        return true;
    }

    /** {@link #withActivation(ActQuantizer.Kind, float)} with the seed's default clip 2 for FIXED_CLIP. */
    public BitWidths withActivationKind(ActQuantizer.Kind kind) {
        return withActivation(kind, DEFAULT_FIXED_CLIP);
    }

    /** The kind every choosable activation quantizer has when the bit widths choose one, or null for the seed's kinds. */
    public ActQuantizer.Kind activationOverride() {
        return activationOverride;
    }

    /** The clip c of fixed-clip PACT when that kind is chosen, else 0. */
    public float activationClip() {
        return activationClip;
    }

    /**
     * ResNet20 with ({@code true}, the seed's default) or without the quantizer on the shortcut branch's output (the
     * seed's "w/o branch_out quant" row). The other models refuse {@code false}: their branch quantizers are part of
     * the seed's block (MobileNetV2) or they have no conv branch (ToyNet).
     */
    public BitWidths withBranchOutputQuant(boolean on) {
        if (on == branchOutputQuant) {
            return this;
        }
        if (!model.equals(RESNET20)) {
            throw new IllegalArgumentException(model + ": only resnet20 can switch off its branch-output quantizer");
        }
        return new BitWidths(model, abit, wbit, activationOverride, activationClip, on, inputKind, tiedResidualClips);
    }

    /**
     * These bit widths with the network-input quantizer ({@link #networkInputIndex()}) of {@code kind}: null or
     * DOREFA is the seed's DoReFa (which cuts the normalised image's negative half), MPACT a signed symmetric
     * quantizer of the normalised image, the input an integer model end to end needs (beyond the seed). Other kinds
     * are refused.
     */
    public BitWidths withInputActivation(ActQuantizer.Kind kind) {
        ActQuantizer.Kind k = kind == ActQuantizer.Kind.DOREFA ? null : kind;
        if (k != null && k != ActQuantizer.Kind.MPACT) {
            throw new IllegalArgumentException(model + ": the network input quantizer is dorefa (the seed's) or mpact, "
                + "not " + kindName(kind));
        }
        if (k == inputKind) {
            return this;
        }
        BitLayout layout = BitLayout.of(model);
        List<String> problems = new ArrayList<>();
        String bad = badBits(layout, true, layout.networkInputIndex(), abit[layout.networkInputIndex()],
            Integer.toString(abit[layout.networkInputIndex()]), k == null ? ActQuantizer.Kind.DOREFA : k);
        if (bad != null) {
            problems.add(bad);
        }
        throwIfAny(layout, problems);
        return new BitWidths(model, abit, wbit, activationOverride, activationClip, branchOutputQuant, k,
            tiedResidualClips);
    }

    /** The network-input quantizer's kind when chosen ({@link #withInputActivation}), or null for the seed's DoReFa. */
    public ActQuantizer.Kind inputActivation() {
        return inputKind;
    }

    /** The abit index of the quantizer on the network input (ToyNet, MobileNetV2: 0; ResNet20: 10). */
    public int networkInputIndex() {
        return BitLayout.of(model).networkInputIndex();
    }

    /**
     * ResNet20 with ({@code true}) or without the clips α of each stage's residual stream tied (beyond the seed): the
     * quantizers of one stream ({@link #RESNET20_RESIDUAL_STREAMS}: {@code stem.q} and {@code s0.b*.out.q};
     * {@code sS.b0.shortcut.q} and {@code sS.b*.out.q}) share one α parameter ({@code sS.residual.alpha}: one
     * tensor, the sum of their gradients), so that every residual add of the integer model weighs exactly one
     * output code per residual code and an int8 runtime's 8-bit intermediate before the add rounds nothing
     * (see {@code OnnxExport}). Refused, with the reason: another model, no shortcut branch-output quantizer
     * ({@code branch_out_quant: false}), quantizers of a stream at different bit widths, or of a kind without α
     * (DoReFa, fixed-clip PACT), or no stream with two quantized members (nothing to tie).
     */
    public BitWidths withTiedResidualClips(boolean on) {
        if (on == tiedResidualClips) {
            return this;
        }
        return new BitWidths(model, abit, wbit, activationOverride, activationClip, branchOutputQuant, inputKind, on);
    }

    /** Whether ResNet20's residual-stream quantizers share one α per stage ({@link #withTiedResidualClips}). */
    public boolean tiedResidualClips() {
        return tiedResidualClips;
    }

    /** Throws IllegalArgumentException when these bit widths cannot tie their residual clips (see above). */
    private void checkTie() {
        String what = model + ": tie_residual_alpha (residual-stream quantizers sharing one α per stage)";
        if (!model.equals(RESNET20)) {
            throw new IllegalArgumentException(what + " is for resnet20 only");
        }
        if (!branchOutputQuant) {
            throw new IllegalArgumentException(what + " needs the shortcut branch-output quantizer "
                + "(branch_out_quant: true): without it blocks s1.b0 and s2.b0 add an unquantized shortcut");
        }
        List<String> problems = new ArrayList<>();
        Map<ActQuantizer.Kind, List<Integer>> noAlpha = new LinkedHashMap<>();
        int tiedStreams = 0;
        for (int[] stream : RESNET20_RESIDUAL_STREAMS) {
            int quantized = 0, first = -1;
            for (int i : stream) {
                if (abit[i] == FP) {
                    continue; // not quantized: no α, not part of the tie
                }
                quantized++;
                ActQuantizer.Kind k = activationKind(i);
                if (k != ActQuantizer.Kind.PACT && k != ActQuantizer.Kind.MPACT) {
                    noAlpha.computeIfAbsent(k, x -> new ArrayList<>()).add(i);
                } else if (first < 0) {
                    first = i;
                } else if (abit[i] != abit[first]) {
                    problems.add("abit[" + i + "] = " + abit[i] + " and abit[" + first + "] = " + abit[first]
                        + " are one residual stream: tied quantizers need one bit width, else the residual still "
                        + "weighs a fraction of an output code");
                }
            }
            if (quantized >= 2) {
                tiedStreams++;
            }
        }
        noAlpha.forEach((k, indices) -> problems.add(0, "abit" + indices + " " + (indices.size() == 1 ? "is" : "are")
            + " quantized by " + kindName(k) + ", which has no α to tie (tie_residual_alpha needs act: pact or mpact)"));
        if (problems.isEmpty() && tiedStreams == 0) {
            problems.add("no residual stream has two quantized members, so there is nothing to tie");
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(what + ": " + (problems.size() == 1 ? problems.get(0)
                : problems.size() + " problems:\n  - " + String.join("\n  - ", problems)));
        }
    }

    /** Whether ResNet20's shortcut branch output is quantized (always true for the other models). */
    public boolean branchOutputQuant() {
        return branchOutputQuant;
    }

    /** The activation quantizer reading abit[index]: its kind, bit width and (fixed clip) clip. */
    public ActQuantizer quantizer(int index) {
        ActQuantizer.Kind kind = activationKind(index);
        return new ActQuantizer(kind, abit[index], kind == ActQuantizer.Kind.FIXED_CLIP ? activationClip : 0f);
    }


    /** The kind a name stands for ({@link #KIND_NAMES}, any case, '_' for '-'); anything else is refused listing them. */
    public static ActQuantizer.Kind parseKind(String name) {
        String n = name == null ? "" : name.trim().toLowerCase(Locale.ROOT).replace('_', '-');
        return switch (n) {
            case "dorefa" -> ActQuantizer.Kind.DOREFA;
            case "pact" -> ActQuantizer.Kind.PACT;
            case "mpact" -> ActQuantizer.Kind.MPACT;
            case "fixed-clip" -> ActQuantizer.Kind.FIXED_CLIP;
            default -> throw new IllegalArgumentException("unknown activation quantizer " + BitLayout.quote(name)
                + " (valid: " + String.join(", ", KIND_NAMES) + ")");
        };
    }

    /** The name of a kind as files and options write it; "the seed's kinds" for null. */
    public static String kindName(ActQuantizer.Kind kind) {
        return kind == null ? "the seed's kinds" : kind.name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** The model names: {@code toynet}, {@code mobilenetv2}, {@code resnet20}. */
    public static List<String> models() {
        return BitLayout.modelNames();
    }

    /** Length of {@code abit} (activation) or {@code wbit}: toynet 14 / 13, mobilenetv2 21 / 20, resnet20 11 / 10. */
    public static int expectedLength(String model, boolean activation) {
        return BitLayout.of(model).length(activation);
    }

    /** What index {@code index} of abit (activation) or wbit of {@code model} stands for. */
    public static String describeIndex(String model, boolean activation, int index) {
        return BitLayout.of(model).describe(activation, index);
    }

    /**
     * What an index stands for, e.g. {@code "abit[3]: block 3 input (s1.b1 ain) / block 2 output"} or
     * {@code "wbit[11]: header conv1x1 64->512"}; an index outside the array is an IllegalArgumentException
     * listing every index.
     */
    public String describeIndex(boolean activation, int index) {
        return describeIndex(model, activation, index);
    }

    /** The kind of the quantizer reading abit[index]: the chosen kind, or the seed's (see the class table). */
    public ActQuantizer.Kind activationKind(int index) {
        BitLayout layout = BitLayout.of(model);
        if (inputKind != null && index == layout.networkInputIndex()) {
            return inputKind;
        }
        return effectiveKind(layout, index, activationOverride);
    }

    private static ActQuantizer.Kind effectiveKind(BitLayout layout, int index, ActQuantizer.Kind override) {
        ActQuantizer.Kind seed = layout.activationKind(index);
        return override != null && layout.kindChoosable(index) ? override : seed;
    }

    public String model() {
        return model;
    }

    /** A copy of the activation bit widths. */
    public int[] abit() {
        return abit.clone();
    }

    /** A copy of the weight bit widths. */
    public int[] wbit() {
        return wbit.clone();
    }

    /** abit[index], without copying the array. */
    public int abit(int index) {
        BitLayout.of(model).checkIndex(true, index, "index");
        return abit[index];
    }

    /** wbit[index], without copying the array. */
    public int wbit(int index) {
        BitLayout.of(model).checkIndex(false, index, "index");
        return wbit[index];
    }

    /**
     * These bit widths with some entries replaced, {@code index -> bits} (either map may be empty, not null).
     * An index the model does not have is refused with the list of every index and its meaning.
     */
    public BitWidths withOverrides(Map<Integer, Integer> abitOverrides, Map<Integer, Integer> wbitOverrides) {
        if (abitOverrides == null || wbitOverrides == null) {
            throw new IllegalArgumentException(model + ": override maps must not be null (use Map.of())");
        }
        BitLayout layout = BitLayout.of(model);
        List<String> problems = new ArrayList<>();
        int[] a = applyOverrides(layout, true, abit, abitOverrides, problems);
        int[] w = applyOverrides(layout, false, wbit, wbitOverrides, problems);
        check(layout, true, a, activationOverride, problems);
        check(layout, false, w, null, problems);
        throwIfAny(layout, problems);
        // the input index is checked against the input kind too (check() knows only the seed's and the chosen kind)
        return new BitWidths(model, a, w, activationOverride, activationClip, branchOutputQuant, null, false)
            .withInputActivation(inputKind).withTiedResidualClips(tiedResidualClips);
    }

    private static int[] applyOverrides(BitLayout layout, boolean activation, int[] base, Map<Integer, Integer> overrides,
                                        List<String> problems) {
        int[] out = base.clone();
        for (Map.Entry<Integer, Integer> e : overrides.entrySet()) {
            Integer index = e.getKey();
            if (index == null || e.getValue() == null) {
                problems.add(layout.model + " " + BitLayout.arrayName(activation) + " override " + index + " -> "
                    + e.getValue() + ": null index or bit width");
                continue;
            }
            try {
                layout.checkIndex(activation, index, "override index");
            } catch (IllegalArgumentException ex) {
                problems.add(ex.getMessage());
                continue;
            }
            out[index] = e.getValue();
        }
        return out;
    }

    // ---- presets ----------------------------------------------------------------------------------------------

    /**
     * A named configuration of the seed (class table), or one with a kind suffix, {@code NAME-KIND} for any
     * {@link #KIND_NAMES kind}: that preset with every activation quantizer of that kind (e.g. {@code cfg2-pact},
     * {@code int4-fixed-clip} with the seed's clip 2, {@code cfg1-star-dorefa}). Unknown model or name lists the
     * valid ones.
     */
    public static BitWidths preset(String model, String name) {
        Map<String, BitWidths> byName = PRESETS.get(BitLayout.of(model).model);
        BitWidths b = byName.get(name);
        if (b != null) {
            return b;
        }
        for (String kind : KIND_NAMES) {
            if (name != null && name.endsWith("-" + kind) && byName.containsKey(name.substring(0, name.length() - kind.length() - 1))) {
                return byName.get(name.substring(0, name.length() - kind.length() - 1)).withActivationKind(parseKind(kind));
            }
        }
        throw new IllegalArgumentException("unknown " + model + " preset " + BitLayout.quote(name) + " (valid: "
            + String.join(", ", byName.keySet()) + "; each also as NAME-KIND, KIND one of " + String.join(", ", KIND_NAMES)
            + ")");
    }

    /** Whether {@code name} is a preset of {@code model}, with or without a kind suffix. */
    static boolean isPreset(String model, String name) {
        try {
            preset(model, name);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /**
     * The preset beyond the seed whose integer model runs from the input to the logits without float layers:
     * {@code cfg1-star-e2e} (toynet), {@code int8-e2e} (mobilenetv2), {@code int8-mpact-e2e} (resnet20).
     */
    public static String endToEndPreset(String model) {
        return switch (BitLayout.of(model).model) {
            case TOYNET -> "cfg1-star-e2e";
            case MOBILENETV2 -> "int8-e2e";
            default -> "int8-mpact-e2e";
        };
    }

    /** The preset names of a model, in a fixed order ({@code fp32} first). */
    public static List<String> presetNames(String model) {
        return List.copyOf(PRESETS.get(BitLayout.of(model).model).keySet());
    }

    private static Map<String, Map<String, BitWidths>> presets() {
        Map<String, Map<String, BitWidths>> all = new LinkedHashMap<>();

        Map<String, BitWidths> toy = new LinkedHashMap<>();
        toy.put("fp32", uniform(TOYNET, FP));
        // README cfg-1
        toy.put("cfg1", of(TOYNET,
            new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32},
            new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16, 16}));
        // HEAD config_train.py, the README's "cfg-1*": input FP, FC input 16 bits, everything else 8
        toy.put("cfg1-star", of(TOYNET,
            new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 16},
            new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8}));
        // README cfg-2: weights 6 bits for blocks 2-7
        toy.put("cfg2", of(TOYNET,
            new int[] {32, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 32, 32},
            new int[] {32, 8, 6, 6, 6, 6, 6, 6, 8, 8, 8, 16, 16}));
        // README cfg-3: activations and weights 6 bits for blocks 2-10
        toy.put("cfg3", of(TOYNET,
            new int[] {32, 8, 6, 6, 6, 6, 6, 6, 6, 6, 6, 32, 32},
            new int[] {32, 8, 6, 6, 6, 6, 6, 6, 6, 6, 6, 16, 16}));
        // Beyond the seed: integer from the input to the logits (see E2E_NOTE); cfg1-star with the image quantized
        // (signed, 8 bits), the downsample BN outputs quantized and the header output / FC input at 8 bits.
        toy.put("cfg1-star-e2e", of(TOYNET,
            new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8},
            new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8}).withInputActivation(ActQuantizer.Kind.MPACT));
        all.put(TOYNET, toy);

        Map<String, BitWidths> mb = new LinkedHashMap<>();
        mb.put("fp32", uniform(MOBILENETV2, FP));
        // the seed's MBv2 config: abit = [32, 8 x17, 32, 32], wbit = [32, 8 x17, 16, 16]
        mb.put("cfg1-star", mobileNetV2Middle(8));
        // The seed's INT4 / INT6 / INT8 columns: the middle 17 blocks at N bits, the ends as cfg1-star (the seed keeps
        // its sensitive first and last layers at 32 / 16 bits in every configuration it lists).
        mb.put("int8", mobileNetV2Middle(8));
        mb.put("int6", mobileNetV2Middle(6));
        mb.put("int4", mobileNetV2Middle(4));
        // Beyond the seed: integer from the input to the logits. The image (signed), the stem weights, the last
        // block's output (and so its shortcut branch), the head weights and the head output at 8 bits; the pooled sums
        // feed the FC (16-bit weights) directly, so abit[19] stays off.
        int[] a = new int[21];
        int[] w = new int[20];
        Arrays.fill(a, 8);
        Arrays.fill(w, 8);
        a[19] = FP;
        w[19] = 16;
        mb.put("int8-e2e", of(MOBILENETV2, a, w).withInputActivation(ActQuantizer.Kind.MPACT));
        all.put(MOBILENETV2, mb);

        Map<String, BitWidths> rn = new LinkedHashMap<>();
        rn.put("fp32", uniform(RESNET20, FP));
        for (int n : new int[] {8, 6, 4}) {
            rn.put("int" + n, resNet20Blocks(n));
        }
        // The seed's PACT and mPACT columns (int8 etc. are its DoReFa column); mPACT keeps values signed, the kind to
        // fine-tune an FP32 checkpoint into.
        for (ActQuantizer.Kind kind : new ActQuantizer.Kind[] {ActQuantizer.Kind.PACT, ActQuantizer.Kind.MPACT}) {
            for (int n : new int[] {8, 6, 4}) {
                rn.put("int" + n + "-" + kindName(kind), resNet20Blocks(n).withActivationKind(kind));
            }
        }
        // Beyond the seed: int8-mpact with the image (signed), the stem weights and the stem output quantized at 8 bits
        // too, so the integer model has no float prefix; the FC keeps its 16-bit weights on the pooled sums.
        int[] ra = new int[RESNET20_INPUT + 1];
        int[] rw = new int[RESNET20_STEM_WEIGHTS + 1];
        Arrays.fill(ra, 8);
        Arrays.fill(rw, 8);
        rn.put("int8-mpact-e2e", of(RESNET20, ra, rw).withActivationKind(ActQuantizer.Kind.MPACT)
            .withInputActivation(ActQuantizer.Kind.MPACT));
        // Beyond the seed: int8-mpact-e2e with each stage's residual stream under one clip α, so that every residual
        // add of its integer model weighs exactly one output code (exact in an int8 runtime's QLinearAdd).
        rn.put("int8-mpact-e2e-tied", rn.get("int8-mpact-e2e").withTiedResidualClips(true));
        all.put(RESNET20, rn);

        for (Map.Entry<String, Map<String, BitWidths>> e : all.entrySet()) {
            e.setValue(Collections.unmodifiableMap(e.getValue()));
        }
        return Collections.unmodifiableMap(all);
    }

    /** MobileNetV2 with its 17 blocks at {@code bits} and cfg1-star's ends: abit [32, n x17, 32, 32], wbit [32, n x17, 16, 16]. */
    private static BitWidths mobileNetV2Middle(int bits) {
        int[] a = new int[20];
        int[] w = new int[20];
        Arrays.fill(a, bits);
        Arrays.fill(w, bits);
        a[0] = FP;
        a[18] = FP;
        a[19] = FP;
        w[0] = FP;
        w[18] = 16;
        w[19] = 16;
        return of(MOBILENETV2, a, w);
    }

    /** ResNet20 with every block at {@code bits} and the stem output unquantized, as the seed's {@code [n]*9}. */
    private static BitWidths resNet20Blocks(int bits) {
        int[] w = new int[RESNET20_BLOCKS];
        Arrays.fill(w, bits);
        return of(RESNET20, w.clone(), w);
    }

    private static BitWidths uniform(String model, int bits) {
        int[] a = new int[expectedLength(model, true)];
        int[] w = new int[expectedLength(model, false)];
        Arrays.fill(a, bits);
        Arrays.fill(w, bits);
        return of(model, a, w);
    }

    // ---- files ------------------------------------------------------------------------------------------------

    /**
     * Bit widths from a {@code .yaml}/{@code .yml} or {@code .json} file (format in {@link BitWidthsFile}); the
     * file's {@code model} must be {@code model}. Every error is an IllegalArgumentException naming the file.
     */
    public static BitWidths load(Path file, String model) {
        return BitWidthsFile.load(file, model);
    }

    /**
     * Bit widths from YAML text as {@link #toYaml()} writes it (a checkpoint keeps them so); {@code where} names the
     * source in error messages.
     */
    public static BitWidths fromYaml(String yaml, String model, String where) {
        if (yaml == null) {
            throw new IllegalArgumentException(where + ": no bit widths");
        }
        return BitWidthsFile.fromYaml(yaml, model, where);
    }

    /**
     * A preset name of {@code model} if it is one, else a path to a bit-width file. A string that is neither a
     * preset nor an existing file nor a name ending in .yaml/.yml/.json is refused, listing the presets.
     */
    public static BitWidths resolve(String model, String presetOrFile) {
        BitLayout layout = BitLayout.of(model);
        if (presetOrFile == null || presetOrFile.isBlank()) {
            throw new IllegalArgumentException(model + ": no bit widths given (a preset: "
                + String.join(", ", presetNames(model)) + "; or a .yaml/.yml/.json file)");
        }
        if (isPreset(layout.model, presetOrFile)) {
            return preset(model, presetOrFile);
        }
        Path p;
        try {
            p = Path.of(presetOrFile);
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException(notPresetNorFile(model, presetOrFile), e);
        }
        if (Files.exists(p) || BitWidthsFile.formatOf(presetOrFile) != null) {
            return load(p, model);
        }
        throw new IllegalArgumentException(notPresetNorFile(model, presetOrFile));
    }

    private static String notPresetNorFile(String model, String s) {
        return BitLayout.quote(s) + " is neither a " + model + " preset (" + String.join(", ", presetNames(model))
            + ") nor an existing .yaml/.yml/.json file";
    }

    /**
     * A complete YAML config ({@code model}, full {@code abit} and {@code wbit}, one entry a line with what it
     * stands for as a comment) that {@link #load(Path, String)} reads back equal.
     */
    public String toYaml() {
        BitLayout layout = BitLayout.of(model);
        StringBuilder sb = new StringBuilder();
        sb.append("# qat4j bit widths for ").append(model).append(" (32 = not quantized); abit ")
            .append(abit.length).append(" entries, wbit ").append(wbit.length).append(" entries\n");
        sb.append("model: ").append(model).append('\n');
        if (activationOverride != null) {
            sb.append("act: ").append(kindName(activationOverride)).append("  # every activation quantizer\n");
            if (activationOverride == ActQuantizer.Kind.FIXED_CLIP) {
                sb.append("act_clip: ").append(activationClip).append("  # the fixed clip c\n");
            }
        }
        if (!branchOutputQuant) {
            sb.append("branch_out_quant: false  # shortcut branch output not quantized\n");
        }
        if (inputKind != null) {
            sb.append("input_act: ").append(kindName(inputKind)).append("  # the quantizer of the normalised image\n");
        }
        if (tiedResidualClips) {
            sb.append("tie_residual_alpha: true  # each stage's residual-stream quantizers share one clip\n");
        }
        appendList(sb, layout, true, abit);
        appendList(sb, layout, false, wbit);
        return sb.toString();
    }

    private static void appendList(StringBuilder sb, BitLayout layout, boolean activation, int[] bits) {
        sb.append(BitLayout.arrayName(activation)).append(":\n");
        for (int i = 0; i < bits.length; i++) {
            String item = "  - " + bits[i];
            sb.append(item).append(" ".repeat(Math.max(1, 9 - item.length()))).append("# ")
                .append(layout.describe(activation, i)).append('\n');
        }
    }

    // ---- validation -------------------------------------------------------------------------------------------

    /** Adds to {@code problems} what is wrong with one array; activation indices are checked against their kind. */
    private static void check(BitLayout layout, boolean activation, int[] bits, ActQuantizer.Kind override,
                              List<String> problems) {
        String name = BitLayout.arrayName(activation);
        int n = layout.length(activation);
        if (bits == null) {
            problems.add(layout.model + " " + name + " is null, expected " + n + " entries (" + layout.compactMapping(activation) + ")");
            return;
        }
        if (bits.length != n) {
            problems.add(layout.model + " " + name + " has " + bits.length + " entries, expected " + n + " ("
                + layout.compactMapping(activation) + ")");
            return;
        }
        for (int i = 0; i < n; i++) {
            ActQuantizer.Kind kind = activation ? effectiveKind(layout, i, override) : null;
            String bad = badBits(layout, activation, i, bits[i], Long.toString(bits[i]), kind);
            if (bad != null) {
                problems.add(bad);
            }
        }
    }

    /** Why {@code bits} is not accepted at that index by the seed's quantizer there, or null. */
    static String badBits(BitLayout layout, boolean activation, int index, long bits, String shown) {
        return badBits(layout, activation, index, bits, shown, activation ? layout.activationKind(index) : null);
    }

    /** As above for a quantizer of {@code kind}, showing the value as {@code shown} (as written in a file). */
    static String badBits(BitLayout layout, boolean activation, int index, long bits, String shown,
                          ActQuantizer.Kind kind) {
        int min = BitLayout.minBits(activation, kind);
        if ((bits >= min && bits <= 16) || bits == FP) {
            return null;
        }
        String name = BitLayout.arrayName(activation);
        String who;
        if (!activation) {
            who = "weights take 1..16 or 32";
        } else if (kind == ActQuantizer.Kind.MPACT) {
            who = "this activation is quantized by mPACT, which takes 2..16 or 32"
                + (bits == 1 ? " (1 bit leaves mPACT only the code 0: 2^(1-1) - 1 = 0)" : "");
        } else {
            who = "this activation is quantized by " + (kind == ActQuantizer.Kind.DOREFA ? "DoReFa" : kindName(kind))
                + ", which takes 1..16 or 32";
        }
        return layout.model + " " + name + "[" + index + "] = " + shown + " is not a valid bit width: " + who + " ["
            + layout.describe(activation, index) + "; " + layout.model + " " + name + " has "
            + layout.length(activation) + " entries]";
    }

    static void throwIfAny(BitLayout layout, List<String> problems) {
        if (problems.isEmpty()) {
            return;
        }
        if (problems.size() == 1) {
            throw new IllegalArgumentException(problems.get(0));
        }
        StringBuilder sb = new StringBuilder(layout.model).append(": ").append(problems.size())
            .append(" problems with the bit widths (abit ").append(layout.length(true)).append(" entries, wbit ")
            .append(layout.length(false)).append(" entries)");
        for (String p : problems) {
            sb.append("\n  - ").append(p);
        }
        throw new IllegalArgumentException(sb.toString());
    }

    // ---- value semantics --------------------------------------------------------------------------------------

    @Override
    public boolean equals(Object o) {
        return o instanceof BitWidths b && model.equals(b.model) && Arrays.equals(abit, b.abit)
            && Arrays.equals(wbit, b.wbit) && activationOverride == b.activationOverride
            && Float.compare(activationClip, b.activationClip) == 0 && branchOutputQuant == b.branchOutputQuant
            && inputKind == b.inputKind && tiedResidualClips == b.tiedResidualClips;
    }

    @Override
    public int hashCode() {
        return Objects.hash(model, Arrays.hashCode(abit), Arrays.hashCode(wbit), activationOverride, activationClip,
            branchOutputQuant, inputKind, tiedResidualClips);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "BitWidths[%s abit=%s wbit=%s%s%s%s%s%s]", model, Arrays.toString(abit),
            Arrays.toString(wbit), activationOverride == null ? "" : " act=" + kindName(activationOverride),
            activationOverride == ActQuantizer.Kind.FIXED_CLIP ? " clip=" + activationClip : "",
            branchOutputQuant ? "" : " branch_out_quant=false", inputKind == null ? "" : " input_act=" + kindName(inputKind),
            tiedResidualClips ? " tie_residual_alpha" : "");
    }
}
