package dev.qat4j.models;

import dev.qat4j.backend.Backend;
import dev.qat4j.nn.ActQuant;
import dev.qat4j.nn.BatchNorm2d;
import dev.qat4j.nn.Clamp;
import dev.qat4j.nn.ConvNorm;
import dev.qat4j.nn.Flatten;
import dev.qat4j.nn.Init;
import dev.qat4j.nn.Module;
import dev.qat4j.nn.Parameter;
import dev.qat4j.nn.Pool;
import dev.qat4j.nn.QConv2d;
import dev.qat4j.nn.QLinear;
import dev.qat4j.nn.ResidualBlock;
import dev.qat4j.nn.Sequential;
import dev.qat4j.quant.ActQuantizer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The seed's three networks ({@code algorithms.md} A3, A5), built from nn parts with fake-quant exactly where the
 * seed puts it. Parameter and MADD totals: ToyNet 203,626 / 25,601,536; MobileNetV2 2,383,050 / 98,645,504;
 * ResNet20 272,474 / 41,214,656 (for CIFAR-10's 3 x 32 x 32 input and ten classes).
 *
 * <p>Other inputs ({@link #build(String, BitWidths, InputSpec, Backend, long)}): the stem reads
 * {@link InputSpec#channels()} channels and the classifier gives {@link InputSpec#classes()} logits; height and width
 * are free as long as the downsampling leaves at least one pixel. Where the seed's fixed pooling window does not
 * cover the last feature map exactly (ResNet20's 8, MobileNetV2's 4 are sized for 32 x 32), the map is pooled
 * globally instead, which is the same average at 32 x 32.
 */
public final class Models {
    public static final List<String> NAMES = List.of("toynet", "mobilenetv2", "resnet20");

    private Models() {
    }

    /**
     * Builds {@code model} for CIFAR-10 ({@link InputSpec#CIFAR10}) with the given bit widths, weights drawn from
     * {@code seed}, on {@code backend}.
     */
    public static QuantModel build(String model, BitWidths bits, Backend backend, long seed) {
        return build(model, bits, InputSpec.CIFAR10, backend, seed);
    }

    /**
     * Builds {@code model} for images and classes as {@code spec} describes them, with the given bit widths, weights
     * drawn from {@code seed}, on {@code backend}. For {@link InputSpec#CIFAR10} this is exactly
     * {@link #build(String, BitWidths, Backend, long)}.
     *
     * @throws IllegalArgumentException for an unknown model, bit widths of another model, or an image too small for
     *                                  the network (the message names the layer)
     */
    public static QuantModel build(String model, BitWidths bits, InputSpec spec, Backend backend, long seed) {
        return build(model, bits, spec, backend, seed, true);
    }

    /**
     * As {@link #build(String, BitWidths, Backend, long)}; with {@code withQuantLayers = false} the activation
     * quantizer layers are left out entirely (same weights for the same seed: they draw no random numbers). Tests
     * use it to show that the {@code fp32} preset is exactly the unquantized network.
     */
    static QuantModel build(String model, BitWidths bits, Backend backend, long seed, boolean withQuantLayers) {
        return build(model, bits, InputSpec.CIFAR10, backend, seed, withQuantLayers);
    }

    private static QuantModel build(String model, BitWidths bits, InputSpec spec, Backend backend, long seed,
                                    boolean withQuantLayers) {
        if (!bits.model().equals(model)) {
            throw new IllegalArgumentException("bit widths are for model '" + bits.model() + "', not '" + model + "'");
        }
        java.util.Objects.requireNonNull(spec, "input spec");
        Ctx c = new Ctx(backend, new SplittableRandom(seed), withQuantLayers, spec);
        Module net = switch (model) {
            case "toynet" -> toyNet(bits, c);
            case "mobilenetv2" -> mobileNetV2(bits, c);
            case "resnet20" -> resNet20(bits, c);
            default -> throw new IllegalArgumentException("unknown model '" + model + "' (known: " + NAMES + ")");
        };
        return new QuantModel(model, bits, net, spec);
    }

    /**
     * What every builder needs: the backend, the weight RNG, whether quantizer layers are built, and the input spec
     * (stem channels, classes, image size for the final pool).
     */
    private record Ctx(Backend b, SplittableRandom rnd, boolean quant, InputSpec spec) {
        /**
         * The activation quantizer {@code q} (the bit widths' kind at its index: DoReFa, PACT, mPACT or fixed clip);
         * PACT and mPACT start with α = {@code alpha}, the seed's initial clip at that place.
         */
        ActQuant act(String name, ActQuantizer q, float alpha) {
            return quant ? new ActQuant(name, b, q, alpha) : null;
        }

        /**
         * As {@link #act(String, ActQuantizer, float)}, but where {@code tied} is not null and the quantizer has an α
         * (PACT/mPACT below 32 bits) it uses {@code tied}'s shared α, created at the first use with value
         * {@code alpha}.
         */
        ActQuant act(String name, ActQuantizer q, float alpha, TiedAlpha tied) {
            if (!quant || tied == null || !q.hasAlpha() || q.isIdentity()) {
                return act(name, q, alpha);
            }
            return new ActQuant(name, q, tied.get(b, alpha));
        }

        QConv2d conv(String name, Init init, int cin, int cout, int k, int stride, int pad, int groups, int wbits) {
            return new QConv2d(name, b, rnd, init, cin, cout, k, stride, pad, groups, wbits);
        }

        BatchNorm2d bn(String name, int c) {
            return new BatchNorm2d(name, b, c);
        }

        /** A Sequential of the non-null modules (left-out quantizers are null). */
        Sequential seq(String name, Module... ms) {
            List<Module> list = new ArrayList<>();
            for (Module m : ms) {
                if (m != null) {
                    list.add(m);
                }
            }
            return new Sequential(name, list);
        }

        /**
         * The seed's {@code window}x{@code window} pool when it covers the last feature map exactly (CIFAR-10),
         * else a global pool: the same average over the whole map, for any input size.
         */
        Pool finalPool(String name, List<Module> before, int window, Pool.Counting counting) {
            int[] shape = spec.shape();
            for (Module m : before) {
                if (m != null) {
                    shape = m.outputShape(shape);
                }
            }
            return shape[1] == window && shape[2] == window ? Pool.avg(name, window, counting) : Pool.global(name);
        }
    }

    /** One α parameter that several quantizers share (tied clips), created at its first use. */
    private static final class TiedAlpha {
        private final String name;
        private Parameter p;

        TiedAlpha(String name) {
            this.name = name;
        }

        Parameter get(Backend b, float init) {
            if (p == null) {
                p = new Parameter(name, Parameter.Kind.ALPHA, b.fromFloats(new float[] {init}, 1));
            }
            return p;
        }
    }

    // ---------------------------------------------------------------- ToyNet

    /** ToyNet's stages (width, blocks, first stride); BitLayout describes the bit-width indices from the same table. */
    static final int[] TOYNET_WIDTHS = {16, 32, 32, 64};
    static final int[] TOYNET_DEPTHS = {1, 3, 3, 3};
    static final int[] TOYNET_STRIDES = {1, 2, 1, 2};

    /**
     * ToyNet: input DoReFa Q(abit[0]) -> stem ConvNorm 3->16 (w[0], a[1]) -> 10 ConvNeXt-style blocks (block i:
     * ain = abit[i], aout = abit[i+1], w = wbit[i]) -> header ConvNorm 64->512 1x1 (w[11], a[12]) -> adaptive
     * avgpool -> mPACT(abit[12], α 6) -> FC 512->10 (w[12]). Kaiming-normal (fan_out) convs, N(0, 0.001) FC.
     */
    private static Module toyNet(BitWidths bits, Ctx c) {
        int[] w = bits.wbit();
        Init init = Init.KAIMING_NORMAL_FAN_OUT;
        List<Module> layers = new ArrayList<>();
        layers.add(c.act("input_q", bits.quantizer(0), INPUT_ALPHA));
        layers.add(new ConvNorm("stem", c.conv("stem.conv", init, c.spec().channels(), 16, 3, 1, 1, 1, w[0]),
                c.bn("stem.bn", 16), c.act("stem.q", bits.quantizer(1), 6f)));
        int cin = 16, block = 1;
        for (int s = 0; s < TOYNET_WIDTHS.length; s++) {
            for (int j = 0; j < TOYNET_DEPTHS[s]; j++) {
                int stride = j == 0 ? TOYNET_STRIDES[s] : 1;
                layers.add(convNeXtBlock(c, "s" + s + ".b" + j, init, cin, TOYNET_WIDTHS[s], stride,
                        bits.quantizer(block), bits.quantizer(block + 1), w[block],
                        bits.quantizer(BitWidths.TOYNET_DOWNSAMPLE_BN)));
                cin = TOYNET_WIDTHS[s];
                block++;
            }
        }
        layers.add(new ConvNorm("header", c.conv("header.conv", init, 64, 512, 1, 1, 0, 1, w[11]),
                c.bn("header.bn", 512), c.act("header.q", bits.quantizer(12), 6f)));
        layers.add(Pool.global("pool"));
        layers.add(c.act("fc.q", bits.quantizer(12), 6f));
        layers.add(new Flatten("flatten"));
        layers.add(new QLinear("fc", c.b(), c.rnd(), Init.NORMAL_STD_0_001, true, 512, c.spec().classes(),
                w[12]));
        return c.seq("toynet", layers.toArray(new Module[0]));
    }

    /**
     * The seed's ConvNeXt-style block (expansion 4): when the shape changes, x = Q_in(conv_{k=s,stride=s}(BN(x)));
     * then out = Q_out(conv1x1(Q_in(ReLU(conv1x1_expand(Q_in(BN(dw3x3(x))))))) + x). Every quantizer use is its own
     * mPACT (α 10): 3 per block, 4 with the downsample, 32 in all, as the seed's 35 α (with stem, header, last).
     * Beyond the seed, {@code downBn} (abit[13], off in the seed) quantizes the downsample BN's output.
     */
    private static Module convNeXtBlock(Ctx c, String n, Init init, int cin, int cout, int stride, ActQuantizer ain,
                                        ActQuantizer aout, int wbits, ActQuantizer downBn) {
        Module pre = null;
        if (stride != 1 || cin != cout) {
            pre = c.seq(n + ".down", c.bn(n + ".down.bn", cin),
                    downBn.isIdentity() ? null : c.act(n + ".down.bn.q", downBn, 10f),
                    c.conv(n + ".down.conv", init, cin, cout, stride, stride, 0, 1, wbits),
                    c.act(n + ".down.q", ain, 10f));
        }
        Module main = c.seq(n + ".main",
                c.conv(n + ".dw", init, cout, cout, 3, 1, 1, cout, wbits),
                c.bn(n + ".bn", cout),
                c.act(n + ".dw.q", ain, 10f),
                c.conv(n + ".pw1", init, cout, 4 * cout, 1, 1, 0, 1, wbits),
                Clamp.relu(n + ".relu"),
                c.act(n + ".pw1.q", ain, 10f),
                c.conv(n + ".pw2", init, 4 * cout, cout, 1, 1, 0, 1, wbits));
        return new ResidualBlock(n, pre, main, null, c.act(n + ".out.q", aout, 10f));
    }

    // ---------------------------------------------------------------- MobileNetV2

    /** (expansion, out channels, blocks, first stride) per stage: kuangliu's CIFAR MobileNetV2 (BitLayout uses it too). */
    static final int[][] MBV2_CFG = {{1, 16, 1, 1}, {6, 24, 2, 1}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1},
        {6, 160, 3, 2}, {6, 320, 1, 1}};

    /**
     * MobileNetV2 of the seed: stem conv3x3 3->32 (w[0]) -> BN -> ReLU -> mPACT(abit[1]) -> 17 blocks (ain = abit[i],
     * aout = abit[i+1], w = wbit[i]) -> head 1x1 320->1280 (w[18]) -> BN -> ReLU -> avg_pool(4) -> DoReFa Q(abit[19])
     * -> FC 1280->10 (w[19]). torch default initialisation.
     */
    private static Module mobileNetV2(BitWidths bits, Ctx c) {
        int[] w = bits.wbit();
        Init init = Init.TORCH_DEFAULT;
        List<Module> layers = new ArrayList<>();
        if (bits.abit(0) != BitWidths.FP) { // the seed's actq_input, off in its configs
            layers.add(c.act("input_q", bits.quantizer(0), INPUT_ALPHA));
        }
        layers.add(c.conv("stem.conv", init, c.spec().channels(), 32, 3, 1, 1, 1, w[0]));
        layers.add(c.bn("stem.bn", 32));
        layers.add(Clamp.relu("stem.relu"));
        layers.add(c.act("stem.q", bits.quantizer(1), 10f));
        int cin = 32, block = 1;
        for (int[] stage : MBV2_CFG) {
            for (int j = 0; j < stage[2]; j++) {
                int stride = j == 0 ? stage[3] : 1;
                layers.add(mobileNetV2Block(c, "b" + block, init, cin, stage[1], stage[0], stride,
                        bits.quantizer(block), bits.quantizer(block + 1), w[block]));
                cin = stage[1];
                block++;
            }
        }
        layers.add(c.conv("head.conv", init, 320, 1280, 1, 1, 0, 1, w[18]));
        layers.add(c.bn("head.bn", 1280));
        layers.add(Clamp.relu("head.relu"));
        if (bits.abit(BitWidths.MOBILENETV2_HEAD_OUTPUT) != BitWidths.FP) { // beyond the seed
            layers.add(c.act("head.q", bits.quantizer(BitWidths.MOBILENETV2_HEAD_OUTPUT), 10f));
        }
        layers.add(c.finalPool("pool", layers, 4, Pool.Counting.FUNCTIONAL));
        layers.add(c.act("fc.q", bits.quantizer(19), 10f));
        layers.add(new Flatten("flatten"));
        layers.add(new QLinear("fc", c.b(), c.rnd(), Init.TORCH_DEFAULT, false, 1280, c.spec().classes(),
                w[19]));
        return c.seq("mobilenetv2", layers.toArray(new Module[0]));
    }

    /**
     * The seed's MobileNetV2 block: h = Q_in(ReLU6(BN(pw(x)))); h = Q_in(ReLU6(BN(dw3x3_s(h)))); h = BN(pw(h));
     * stride 1: h += Q_out(BN(conv1x1(x))) (a conv shortcut on every stride-1 block, even when C_in = C_out);
     * out = Q_out(h).
     */
    private static Module mobileNetV2Block(Ctx c, String n, Init init, int cin, int cout, int expansion, int stride,
                                           ActQuantizer ain, ActQuantizer aout, int wbits) {
        int planes = expansion * cin;
        Module main = c.seq(n + ".main",
                c.conv(n + ".pw1", init, cin, planes, 1, 1, 0, 1, wbits),
                c.bn(n + ".bn1", planes),
                Clamp.relu6(n + ".relu1"),
                c.act(n + ".q1", ain, 10f),
                c.conv(n + ".dw", init, planes, planes, 3, stride, 1, planes, wbits),
                c.bn(n + ".bn2", planes),
                Clamp.relu6(n + ".relu2"),
                c.act(n + ".q2", ain, 10f),
                c.conv(n + ".pw2", init, planes, cout, 1, 1, 0, 1, wbits),
                c.bn(n + ".bn3", cout));
        if (stride != 1) {
            return c.seq(n, main, c.act(n + ".out.q", aout, 10f));
        }
        Module shortcut = c.seq(n + ".shortcut",
                c.conv(n + ".shortcut.conv", init, cin, cout, 1, 1, 0, 1, wbits),
                c.bn(n + ".shortcut.bn", cout),
                c.act(n + ".shortcut.q", aout, 10f));
        return new ResidualBlock(n, null, main, shortcut, c.act(n + ".out.q", aout, 10f));
    }

    // ---------------------------------------------------------------- ResNet20

    /**
     * ResNet20 (pytorchcv layout, option-B shortcuts): stem conv3x3 3->16 (float) + BN + ReLU, unquantized; 9 basic
     * blocks (block i: abit[i], wbit[i]; DoReFa activations as the seed's default column, or PACT / mPACT when the bit
     * widths say so, e.g. the {@code int8-mpact} preset); AvgPool 8; FC 64->10 on the float input, its weights
     * at 16 bits as in the seed (32 when every block is 32-bit, i.e. the fp32 preset). Kaiming-uniform convs.
     */
    private static Module resNet20(BitWidths bits, Ctx c) {
        int[] a = bits.abit(), w = bits.wbit();
        Init init = Init.KAIMING_UNIFORM;
        List<Module> layers = new ArrayList<>();
        if (a[BitWidths.RESNET20_INPUT] != BitWidths.FP) { // beyond the seed, which has no input quantizer
            layers.add(c.act("input_q", bits.quantizer(BitWidths.RESNET20_INPUT), INPUT_ALPHA));
        }
        layers.add(c.conv("stem.conv", init, c.spec().channels(), 16, 3, 1, 1, 1, w[BitWidths.RESNET20_STEM_WEIGHTS]));
        layers.add(c.bn("stem.bn", 16));
        layers.add(Clamp.relu("stem.relu"));
        // tied residual clips (beyond the seed): each stage's residual stream (BitWidths.RESNET20_RESIDUAL_STREAMS)
        // under one α, sS.residual.alpha
        TiedAlpha[] streams = new TiedAlpha[3];
        for (int s = 0; s < 3; s++) {
            streams[s] = bits.tiedResidualClips() ? new TiedAlpha(residualAlphaName(s)) : null;
        }
        if (a[BitWidths.RESNET20_STEM_OUTPUT] != BitWidths.FP) { // the seed's actq_first, off in its configs
            layers.add(c.act("stem.q", bits.quantizer(BitWidths.RESNET20_STEM_OUTPUT), RESNET_ALPHA, streams[0]));
        }
        int cin = 16, block = 0;
        for (int s = 0; s < 3; s++) {
            int cout = 16 << s;
            for (int j = 0; j < 3; j++) {
                int stride = (j == 0 && s > 0) ? 2 : 1;
                layers.add(resNetBlock(c, "s" + s + ".b" + j, init, cin, cout, stride, bits.quantizer(block),
                        w[block], bits.branchOutputQuant(), streams[s]));
                cin = cout;
                block++;
            }
        }
        boolean allFloat = java.util.Arrays.stream(w, 0, BitWidths.RESNET20_STEM_WEIGHTS).allMatch(v -> v == 32);
        layers.add(c.finalPool("pool", layers, 8, Pool.Counting.AVGPOOL_MODULE));
        layers.add(new Flatten("flatten"));
        layers.add(new QLinear("fc", c.b(), c.rnd(), Init.TORCH_DEFAULT, false, 64, c.spec().classes(),
                allFloat ? 32 : 16));
        return c.seq("resnet20", layers.toArray(new Module[0]));
    }

    /**
     * The name of ResNet20 stage {@code stage}'s shared residual-stream α ({@link BitWidths#withTiedResidualClips}):
     * {@code s0.residual.alpha}, {@code s1.residual.alpha}, {@code s2.residual.alpha}.
     */
    public static String residualAlphaName(int stage) {
        return "s" + stage + ".residual.alpha";
    }

    /**
     * Initial α of ResNet20's PACT/mPACT quantizers (the {@code *-mpact} presets): wide enough that fine-tuning from
     * an FP32 checkpoint starts close to the float network (BN outputs and residual sums stay well inside ±10).
     */
    private static final float RESNET_ALPHA = 10f;

    /**
     * Initial α of an mPACT quantizer on the normalised image: CIFAR-10's normalised pixels lie in [-2.43, 2.75], so
     * ±3 keeps every pixel and gives one code per 3/127 = 0.024 (a pixel step is 1/255/0.2 = 0.020).
     */
    private static final float INPUT_ALPHA = 3f;

    /**
     * The seed's basic block: id = resize ? Q(BN(conv1x1_s(x))) : x; h = Q(ReLU(BN(conv3x3_s(x))));
     * out = Q(BN(conv3x3(h)) + id), with no ReLU after the add (only the quantizer's clamp).
     */
    private static Module resNetBlock(Ctx c, String n, Init init, int cin, int cout, int stride, ActQuantizer q,
                                      int wbits, boolean branchOutputQuant, TiedAlpha stream) {
        Module main = c.seq(n + ".main",
                c.conv(n + ".conv1", init, cin, cout, 3, stride, 1, 1, wbits),
                c.bn(n + ".bn1", cout),
                Clamp.relu(n + ".relu"),
                c.act(n + ".q1", q, RESNET_ALPHA),
                c.conv(n + ".conv2", init, cout, cout, 3, 1, 1, 1, wbits),
                c.bn(n + ".bn2", cout));
        Module shortcut = null;
        if (stride != 1 || cin != cout) {
            shortcut = c.seq(n + ".shortcut",
                    c.conv(n + ".shortcut.conv", init, cin, cout, 1, stride, 0, 1, wbits),
                    c.bn(n + ".shortcut.bn", cout),
                    branchOutputQuant ? c.act(n + ".shortcut.q", q, RESNET_ALPHA, stream) : null);
        }
        return new ResidualBlock(n, null, main, shortcut, c.act(n + ".out.q", q, RESNET_ALPHA, stream));
    }
}
