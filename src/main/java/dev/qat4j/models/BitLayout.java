package dev.qat4j.models;

import dev.qat4j.quant.ActQuantizer;
import java.util.ArrayList;
import java.util.List;

/**
 * What each index of the seed's {@code layer_abit} / {@code layer_wbit} arrays stands for, per model, and which
 * activation quantizer reads each {@code abit} entry ({@code algorithms.md} A3, A5). It knows the block
 * structure (stage names, channels, strides) only to describe indices; it builds nothing.
 *
 * <p>Block names follow the spec tables: ToyNet and MobileNetV2 stages count from 0 ({@code s1.b1} is the second
 * block of the second stage, as in the A5 ToyNet table); ResNet20 uses the seed's own module names
 * ({@code stage2.unit1}, as {@code ResNet_CF.py} and pytorchcv name them).
 *
 * <p><b>Quantizer kinds and placements.</b> The seed places its activation quantizers per model with one kind each:
 * mPACT in ToyNet and MobileNetV2 (DoReFa on the raw image and, in MobileNetV2, on the FC input), DoReFa in
 * ResNet20. A configuration may choose another kind (DoReFa, PACT, mPACT or fixed-clip PACT, see
 * {@link BitWidths#withActivation}); the seed's code defines each model's placement for its one kind only, so the
 * chosen kind goes exactly where the seed's kind sits, at every index but the raw-image quantizer
 * ({@link #kindChoosable}), which stays DoReFa as the seed writes it. No quantizer is added or moved with the kind:
 * a DoReFa or PACT quantizer where ToyNet has no ReLU (after a BN, on a residual sum) cuts the negative half, exactly
 * as the seed's "w/o mPACT" runs did.
 */
final class BitLayout {
    /** One residual block, for the descriptions only. */
    private record Block(String name, int cin, int cout, int stride, int expansion, boolean projection) {
    }

    static final BitLayout TOYNET = toynet();
    static final BitLayout MOBILENETV2 = mobilenetv2();
    static final BitLayout RESNET20 = resnet20();

    /** In the order the error messages list them. */
    static final List<BitLayout> ALL = List.of(TOYNET, MOBILENETV2, RESNET20);

    final String model;
    private final String[] abitLong;
    private final String[] abitShort;
    private final ActQuantizer.Kind[] abitKind;
    /** Whether abit[i]'s quantizer takes the kind a configuration chooses (false only for the one on the raw image). */
    private final boolean[] abitChoosable;
    private final String[] wbitLong;
    private final String[] wbitShort;

    private BitLayout(String model, List<String> abitLong, List<String> abitShort, List<ActQuantizer.Kind> abitKind,
                      List<String> wbitLong, List<String> wbitShort) {
        this.model = model;
        this.abitLong = abitLong.toArray(new String[0]);
        this.abitShort = abitShort.toArray(new String[0]);
        this.abitKind = abitKind.toArray(new ActQuantizer.Kind[0]);
        this.abitChoosable = new boolean[this.abitKind.length];
        for (int i = 0; i < abitChoosable.length; i++) {
            abitChoosable[i] = !abitShort.get(i).equals(NETWORK_INPUT);
        }
        this.wbitLong = wbitLong.toArray(new String[0]);
        this.wbitShort = wbitShort.toArray(new String[0]);
        if (this.abitShort.length != this.abitLong.length || this.abitKind.length != this.abitLong.length
            || this.wbitShort.length != this.wbitLong.length) {
            throw new AssertionError(model + ": inconsistent layout tables");
        }
    }

    static List<String> modelNames() {
        return ALL.stream().map(l -> l.model).toList();
    }

    /** The layout of a model name ({@code toynet}, {@code mobilenetv2}, {@code resnet20}), exactly as spelled. */
    static BitLayout of(String model) {
        for (BitLayout l : ALL) {
            if (l.model.equals(model)) {
                return l;
            }
        }
        throw new IllegalArgumentException("unknown model " + quote(model) + " (valid: " + String.join(", ", modelNames()) + ")");
    }

    /** Short label of the quantizer on the raw image, the one index whose kind a configuration's kind does not set. */
    private static final String NETWORK_INPUT = "input";

    static String quote(String s) {
        return s == null ? "null" : "'" + s + "'";
    }

    static String arrayName(boolean activation) {
        return activation ? "abit" : "wbit";
    }

    int length(boolean activation) {
        return activation ? abitLong.length : wbitLong.length;
    }

    /** E.g. {@code abit[3]: block 3 input (s1.b1 ain) / block 2 output}. */
    String describe(boolean activation, int index) {
        checkIndex(activation, index, "index");
        return arrayName(activation) + "[" + index + "]: " + (activation ? abitLong : wbitLong)[index];
    }

    /** The quantizer that reads abit[index] in the seed's graph. */
    ActQuantizer.Kind activationKind(int index) {
        checkIndex(true, index, "index");
        return abitKind[index];
    }

    /**
     * Whether the quantizer at abit[index] takes the activation kind a configuration chooses: every one except the
     * DoReFa on the raw image (ToyNet's and MobileNetV2's abit[0], off in every seed config), which stays DoReFa.
     */
    boolean kindChoosable(int index) {
        checkIndex(true, index, "index");
        return abitChoosable[index];
    }

    /** The abit index of the quantizer on the network's input (the normalised image). */
    int networkInputIndex() {
        for (int i = 0; i < abitShort.length; i++) {
            if (abitShort[i].equals(NETWORK_INPUT)) {
                return i;
            }
        }
        throw new AssertionError(model + ": no network input index");
    }

    /** Smallest non-32 bit width a quantizer of this kind accepts: mPACT's R(1) = 2^0 - 1 = 0 has no nonzero code. */
    static int minBits(boolean activation, ActQuantizer.Kind kind) {
        return activation && kind == ActQuantizer.Kind.MPACT ? 2 : 1;
    }

    /** Every index with a short label, e.g. {@code abit: 0 input, 1 stem out = b1 in, ...}. */
    String compactMapping(boolean activation) {
        String[] shortLabels = activation ? abitShort : wbitShort;
        StringBuilder sb = new StringBuilder(arrayName(activation)).append(": ");
        for (int i = 0; i < shortLabels.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(i).append(' ').append(shortLabels[i]);
        }
        return sb.toString();
    }

    void checkIndex(boolean activation, int index, String what) {
        int n = length(activation);
        if (index < 0 || index >= n) {
            throw new IllegalArgumentException(model + " " + arrayName(activation) + " " + what + " " + index
                + " does not exist: " + model + " " + arrayName(activation) + " has " + n + " entries, indices 0.."
                + (n - 1) + " (" + compactMapping(activation) + ")");
        }
    }

    // ---- the three models -------------------------------------------------------------------------------------

    private static String stride(Block b) {
        return b.stride() == 1 ? "" : ", stride " + b.stride();
    }

    /**
     * ToyNet: input DoReFa Q(abit[0]); stem ConvNorm 3-&gt;16 (w0, mPACT abit[1]); 10 ConvNeXt-style blocks,
     * block i reading ain = abit[i] and writing aout = abit[i+1] with weights wbit[i]; header ConvNorm 64-&gt;512
     * (w11, mPACT abit[12]); pool; mPACT(abit[12]); FC 512-&gt;10 (w12).
     */
    private static BitLayout toynet() {
        int[] widths = Models.TOYNET_WIDTHS;
        int[] layers = Models.TOYNET_DEPTHS;
        int[] strides = Models.TOYNET_STRIDES;
        List<Block> blocks = new ArrayList<>();
        int cin = 16;
        for (int s = 0; s < widths.length; s++) {
            for (int j = 0; j < layers[s]; j++) {
                int st = j == 0 ? strides[s] : 1;
                blocks.add(new Block("s" + s + ".b" + j, cin, widths[s], st, 4, st != 1 || cin != widths[s]));
                cin = widths[s];
            }
        }
        int nb = blocks.size(); // 10
        List<String> aL = new ArrayList<>(), aS = new ArrayList<>(), wL = new ArrayList<>(), wS = new ArrayList<>();
        List<ActQuantizer.Kind> aK = new ArrayList<>();
        aL.add("network input (DoReFa on the image, before the stem; mPACT with input_act: mpact)");
        aS.add(NETWORK_INPUT);
        aK.add(ActQuantizer.Kind.DOREFA);
        aL.add("stem output (stem ConvNorm, mPACT) / block 1 input (" + blocks.get(0).name() + " ain)");
        aS.add("stem out = b1 in");
        aK.add(ActQuantizer.Kind.MPACT);
        for (int i = 2; i <= nb; i++) {
            aL.add("block " + i + " input (" + blocks.get(i - 1).name() + " ain) / block " + (i - 1) + " output");
            aS.add("b" + (i - 1) + " out = b" + i + " in");
            aK.add(ActQuantizer.Kind.MPACT);
        }
        aL.add("block " + nb + " output (" + blocks.get(nb - 1).name() + " aout) / header input");
        aS.add("b" + nb + " out");
        aK.add(ActQuantizer.Kind.MPACT);
        aL.add("header output (header ConvNorm, mPACT) and the mPACT after the pool (FC input)");
        aS.add("header out = FC in");
        aK.add(ActQuantizer.Kind.MPACT);
        // beyond the seed, so last: the seed feeds the downsample BN's float output straight into its conv
        aL.add("downsample BN output, the input of the 2x2 stride-2 conv in " + downsampleNames(blocks)
            + " (32 = off, as in the seed; beyond the seed, for an integer model without wide intermediates)");
        aS.add("down BN out");
        aK.add(ActQuantizer.Kind.MPACT);

        wL.add("stem conv3x3 3->16");
        wS.add("stem");
        for (int i = 1; i <= nb; i++) {
            Block b = blocks.get(i - 1);
            int c = b.cout();
            int p = b.expansion() * c;
            String down = b.projection()
                ? "BN + conv" + b.stride() + "x" + b.stride() + "/" + b.stride() + " " + b.cin() + "->" + c + ", "
                : "";
            wL.add("block " + i + " (" + b.name() + ", " + b.cin() + "->" + c + stride(b) + "): " + down
                + "DW3x3 " + c + ", 1x1 " + c + "->" + p + ", 1x1 " + p + "->" + c);
            wS.add("b" + i + " " + b.name());
        }
        wL.add("header conv1x1 64->512");
        wS.add("header");
        wL.add("FC 512->10");
        wS.add("FC");
        return new BitLayout(BitWidths.TOYNET, aL, aS, aK, wL, wS);
    }

    private static String downsampleNames(List<Block> blocks) {
        List<String> names = new ArrayList<>();
        for (Block b : blocks) {
            if (b.projection()) {
                names.add(b.name());
            }
        }
        return String.join(", ", names);
    }

    /**
     * MobileNetV2-CIFAR: input DoReFa Q(abit[0]) (the seed's {@code actq_input}); stem conv3x3 3-&gt;32 (w0) + BN
     * + ReLU + mPACT(abit[1]); 17 inverted-residual blocks, block i reading ain = abit[i] and writing
     * aout = abit[i+1] with weights wbit[i]; head conv1x1 320-&gt;1280 (w18) + BN + ReLU, not quantized;
     * avg_pool(4); DoReFa Q(abit[19]); FC 1280-&gt;10 (w19). abit[18] is the last block's output.
     */
    private static BitLayout mobilenetv2() {
        int[][] cfg = Models.MBV2_CFG;
        List<Block> blocks = new ArrayList<>();
        int cin = 32;
        for (int s = 0; s < cfg.length; s++) {
            for (int j = 0; j < cfg[s][2]; j++) {
                int st = j == 0 ? cfg[s][3] : 1;
                // a 1x1 conv + BN shortcut on every stride-1 block, even when Cin = Cout (A3)
                blocks.add(new Block("s" + s + ".b" + j, cin, cfg[s][1], st, cfg[s][0], st == 1));
                cin = cfg[s][1];
            }
        }
        int nb = blocks.size(); // 17
        List<String> aL = new ArrayList<>(), aS = new ArrayList<>(), wL = new ArrayList<>(), wS = new ArrayList<>();
        List<ActQuantizer.Kind> aK = new ArrayList<>();
        aL.add("network input (DoReFa on the image, before the stem; the seed's actq_input; mPACT with input_act: mpact)");
        aS.add(NETWORK_INPUT);
        aK.add(ActQuantizer.Kind.DOREFA);
        aL.add("stem output (after stem BN + ReLU, mPACT) / block 1 input (" + blocks.get(0).name() + " ain)");
        aS.add("stem out = b1 in");
        aK.add(ActQuantizer.Kind.MPACT);
        for (int i = 2; i <= nb; i++) {
            aL.add("block " + i + " input (" + blocks.get(i - 1).name() + " ain) / block " + (i - 1) + " output");
            aS.add("b" + (i - 1) + " out = b" + i + " in");
            aK.add(ActQuantizer.Kind.MPACT);
        }
        aL.add("block " + nb + " output (" + blocks.get(nb - 1).name()
            + " aout) / head conv input (and its shortcut branch output)");
        aS.add("b" + nb + " out");
        aK.add(ActQuantizer.Kind.MPACT);
        aL.add("FC input (DoReFa after avg_pool(4); the seed's actq_last)");
        aS.add("FC in");
        aK.add(ActQuantizer.Kind.DOREFA);
        // beyond the seed, so last: the seed pools the head's float ReLU output
        aL.add("head output (after head BN + ReLU, before avg_pool; 32 = off, as in the seed; beyond the seed)");
        aS.add("head out");
        aK.add(ActQuantizer.Kind.MPACT);

        wL.add("stem conv3x3 3->32");
        wS.add("stem");
        for (int i = 1; i <= nb; i++) {
            Block b = blocks.get(i - 1);
            int p = b.expansion() * b.cin();
            wL.add("block " + i + " (" + b.name() + ", " + b.cin() + "->" + b.cout() + ", expand " + b.expansion()
                + stride(b) + "): 1x1 " + b.cin() + "->" + p + ", DW3x3 " + p + ", 1x1 " + p + "->" + b.cout()
                + (b.projection() ? ", shortcut 1x1 " + b.cin() + "->" + b.cout() : ""));
            wS.add("b" + i + " " + b.name());
        }
        wL.add("head conv1x1 320->1280");
        wS.add("head");
        wL.add("FC 1280->10");
        wS.add("FC");
        return new BitLayout(BitWidths.MOBILENETV2, aL, aS, aK, wL, wS);
    }

    /**
     * ResNet20: one abit and one wbit per block (indices 0..8); every activation quantizer is DoReFa. abit[9] is the
     * stem output's quantizer, off (32) by default as in the seed; it sits last so that indices 0..8 keep meaning
     * block i and files written before it existed (9 entries) still read. Stem weights (FP32) and the FC (16-bit
     * weights, FP input) are outside the seed's arrays; qat4j appends abit[10], a quantizer of the normalised image,
     * and wbit[9], the stem's weights, both 32 (off) unless a configuration beyond the seed sets them.
     */
    private static BitLayout resnet20() {
        int[] widths = {16, 32, 64};
        List<Block> blocks = new ArrayList<>();
        int cin = 16;
        for (int s = 0; s < widths.length; s++) {
            for (int j = 0; j < 3; j++) {
                int st = (j == 0 && s != 0) ? 2 : 1;
                blocks.add(new Block("stage" + (s + 1) + ".unit" + (j + 1), cin, widths[s], st, 1,
                    cin != widths[s] || st != 1));
                cin = widths[s];
            }
        }
        List<String> aL = new ArrayList<>(), aS = new ArrayList<>(), wL = new ArrayList<>(), wS = new ArrayList<>();
        List<ActQuantizer.Kind> aK = new ArrayList<>();
        for (Block b : blocks) {
            String head = b.name() + " (" + b.cin() + "->" + b.cout() + stride(b) + "): ";
            aL.add(head + "conv1 output after ReLU, " + (b.projection() ? "shortcut branch output, " : "")
                + "block output after the add (DoReFa)");
            aS.add(b.name());
            aK.add(ActQuantizer.Kind.DOREFA);
            wL.add(head + "conv3x3 " + b.cin() + "->" + b.cout() + ", conv3x3 " + b.cout() + "->" + b.cout()
                + (b.projection() ? ", shortcut 1x1 " + b.cin() + "->" + b.cout() : ""));
            wS.add(b.name());
        }
        aL.add("stem output after its ReLU (the seed's actq_first; 32 = off, as in every seed config)");
        aS.add("stem out");
        aK.add(ActQuantizer.Kind.DOREFA);
        // beyond the seed (it quantizes neither), so last: files written before keep their meaning
        aL.add("network input, the normalised image (32 = off, as in the seed, which has no input quantizer)");
        aS.add(NETWORK_INPUT);
        aK.add(ActQuantizer.Kind.DOREFA);
        wL.add("stem conv3x3 3->16 (32 = float weights, as in the seed)");
        wS.add("stem");
        return new BitLayout(BitWidths.RESNET20, aL, aS, aK, wL, wS);
    }
}
