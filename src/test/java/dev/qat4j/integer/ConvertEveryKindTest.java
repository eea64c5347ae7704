package dev.qat4j.integer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.Backends;
import dev.qat4j.models.BitWidths;
import dev.qat4j.models.Models;
import dev.qat4j.models.QuantModel;
import dev.qat4j.quant.ActQuantizer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The integer converter on every quantizer kind a model can now choose, and on ResNet20's branch and stem switches:
 * each configuration either converts into a model that runs (the same integer logits on ref and cpu) or is refused with
 * an IllegalArgumentException naming the layer that cannot be integer. Nothing else may escape.
 */
class ConvertEveryKindTest {
    @Test
    void everyKindConvertsOrIsRefusedByName() {
        Backend cpu = Backends.byName("cpu");
        Backend ref = Backends.byName("ref");
        List<BitWidths> configs = new ArrayList<>();
        for (String[] mp : new String[][] {{"toynet", "cfg1-star"}, {"resnet20", "int8"}, {"mobilenetv2", "cfg1-star"}}) {
            for (ActQuantizer.Kind kind : ActQuantizer.Kind.values()) {
                configs.add(BitWidths.preset(mp[0], mp[1]).withActivationKind(kind));
            }
        }
        BitWidths rn = BitWidths.preset("resnet20", "int8-mpact");
        configs.add(rn.withBranchOutputQuant(false));
        configs.add(rn.withOverrides(java.util.Map.of(BitWidths.RESNET20_STEM_OUTPUT, 8), java.util.Map.of()));
        StringBuilder outcomes = new StringBuilder();
        for (BitWidths bits : configs) {
            try (QuantModel m = Models.build(bits.model(), bits, cpu, 3)) {
                IntegerModel im;
                try {
                    im = IntegerConverter.convert(m, IntegerConverter.Options.exact());
                } catch (IllegalArgumentException e) {
                    outcomes.append(bits).append(": refused: ").append(e.getMessage()).append('\n');
                    assertTrue(e.getMessage().matches("(?s).*\\b(s\\d|b\\d+|stem|header|head|fc|pool)[.\\w]*.*"),
                        bits + ": the refusal names no layer: " + e.getMessage());
                    continue;
                }
                IntValue v0 = im.values().get(0);
                int[] codes = new int[2 * v0.numel()];
                SplittableRandom r = new SplittableRandom(5);
                for (int i = 0; i < codes.length; i++) {
                    codes[i] = (int) r.nextLong(v0.lo(), v0.hi() + 1);
                }
                long[] a = im.runIntegers(cpu, codes, 2, null);
                assertEquals(20, a.length, bits.toString());
                assertTrue(java.util.Arrays.equals(a, im.runIntegers(ref, codes, 2, null)), bits + ": ref and cpu differ");
                outcomes.append(bits).append(": converted, boundary ").append(im.boundary()).append('\n');
            }
        }
        System.out.print(outcomes);
    }
}
