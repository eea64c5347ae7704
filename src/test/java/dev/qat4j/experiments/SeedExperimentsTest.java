package dev.qat4j.experiments;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.models.BitWidths;
import dev.qat4j.quant.ActQuantizer;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The experiment list against the seed's tables as algorithms.md section D and the seed README print them: every
 * row present with the seed's figure, its quantization and its recipe.
 */
class SeedExperimentsTest {
    private static Experiment e(String id) {
        return SeedExperiments.byId(id);
    }

    @Test
    void everySeedTableRowIsThereWithItsAccuracy() {
        Map<String, Double> seed = new LinkedHashMap<>();
        seed.put("toynet-fp32", 91.594);
        seed.put("toynet-cfg1-batch256", 89.814);
        seed.put("toynet-cfg1", 89.482);
        seed.put("toynet-cfg2", 91.317);
        seed.put("toynet-cfg2-pact", 89.458);
        seed.put("toynet-cfg1-star", 91.416);
        seed.put("toynet-cfg3", 90.813);
        seed.put("mbv2-fp32", 94.165);
        seed.put("mbv2-cfg1-star-pact", 88.983);
        seed.put("mbv2-cfg1-star-dorefa", 81.665);
        seed.put("mbv2-cfg1-star", 93.084);
        seed.put("rn20-fp32", 92.50);
        seed.put("rn20-cfg1-star", 92.021);
        seed.put("rn20-cfg1-star-no-branch-q", 92.344);
        seed.put("rn20-kinds-fp32", 91.63);
        seed.put("mbv2-kinds-fp32", 94.16);
        double[][] rn = {{90.05, 90.07, 88.76}, {90.91, 91.10, 91.05}, {91.11, 91.31, 90.85}};
        Double[][] mb = {{91.48, 90.12, null}, {92.96, 93.10, 92.96}, {93.86, 93.71, 93.33}};
        String[] kinds = {"dorefa", "pact", "mpact"};
        int[] bits = {8, 6, 4};
        for (int k = 0; k < 3; k++) {
            for (int b = 0; b < 3; b++) {
                seed.put("rn20-" + kinds[k] + "-int" + bits[b], rn[k][b]);
                seed.put("mbv2-" + kinds[k] + "-int" + bits[b], mb[k][b]);
            }
        }
        assertEquals(seed.keySet(), SeedExperiments.all().stream().map(Experiment::id)
            .collect(Collectors.toCollection(java.util.LinkedHashSet::new)), "exactly the seed's rows");
        seed.forEach((id, acc) -> assertEquals(acc, e(id).seedAccuracy(), id));
        assertEquals(91.05, e("toynet-cfg1-star").seedIntegerAccuracy());
        assertNotNull(e("mbv2-dorefa-int4").note(), "the seed's 'did not converge' is said, not a number");
    }

    @Test
    void quantizationMatchesTheSeedsConfigurations() {
        assertEquals(BitWidths.preset("toynet", "cfg1-star").withActivationKind(ActQuantizer.Kind.MPACT),
            e("toynet-cfg1-star").bitWidths());
        assertEquals(ActQuantizer.Kind.PACT, e("toynet-cfg2-pact").bitWidths().activationKind(5));
        assertEquals(ActQuantizer.Kind.DOREFA, e("mbv2-cfg1-star-dorefa").bitWidths().activationKind(5));
        assertTrue(e("rn20-cfg1-star").bitWidths().branchOutputQuant());
        assertTrue(!e("rn20-cfg1-star-no-branch-q").bitWidths().branchOutputQuant());
        assertEquals(BitWidths.preset("resnet20", "int8"), e("rn20-cfg1-star").bitWidths());
        for (String kind : new String[] {"dorefa", "pact", "mpact"}) {
            for (int n : new int[] {8, 6, 4}) {
                BitWidths mb = e("mbv2-" + kind + "-int" + n).bitWidths();
                assertEquals(n, mb.abit(9));
                assertEquals(32, mb.abit(0));
                assertEquals(16, mb.wbit(19));
                assertEquals(BitWidths.parseKind(kind), mb.activationKind(9));
                BitWidths rn = e("rn20-" + kind + "-int" + n).bitWidths();
                assertEquals(n, rn.abit(4));
                assertEquals(32, rn.abit(BitWidths.RESNET20_STEM_OUTPUT), "the stem output stays off, as the seed");
                assertEquals(BitWidths.parseKind(kind), rn.activationKind(4));
            }
        }
        for (Experiment x : SeedExperiments.all()) {
            if (x.bits().equals("fp32")) {
                assertNull(x.act(), x.id());
            }
        }
    }

    @Test
    void recipesAreTheSeeds() {
        for (Experiment x : SeedExperiments.all()) {
            Recipe r = x.recipe();
            assertEquals(300, r.epochs(), x.id());
            assertEquals(1e-3f, r.etaMin(), x.id());
            assertEquals(0.9f, r.momentum(), x.id());
            assertEquals(5e-4f, r.weightDecay(), x.id());
            assertEquals(2e-4f, r.alphaPenalty(), x.id());
            assertTrue(r.augment(), x.id());
            boolean secondResNetTable = x.table().equals("resnet20");
            assertEquals(secondResNetTable ? 256 : x.id().equals("toynet-cfg1-batch256") ? 256 : 128, r.batchSize(), x.id());
            assertEquals(secondResNetTable ? 0.1f : 0.01f, r.lr(), x.id());
        }
        assertEquals(Recipe.seedDefault("resnet20"), e("rn20-cfg1-star").recipe());
        assertEquals(Recipe.seedDefault("toynet"), e("toynet-cfg1-star").recipe());
        assertEquals(Recipe.seedDefault("mobilenetv2"), e("mbv2-cfg1-star").recipe());
    }

    @Test
    void ambiguousCellsSayWhatWasChosen() {
        for (String id : List.of("toynet-cfg1-batch256", "toynet-cfg1", "toynet-cfg2", "toynet-cfg2-pact",
                "mbv2-cfg1-star-pact", "mbv2-cfg1-star-dorefa", "rn20-cfg1-star-no-branch-q", "mbv2-mpact-int4")) {
            assertNotNull(e(id).choice(), id);
        }
    }

    @Test
    void unknownIdNamesItAndTheNeighbours() {
        String m = assertThrows(IllegalArgumentException.class, () -> SeedExperiments.byId("toynet-cfg9")).getMessage();
        assertTrue(m.contains("'toynet-cfg9'") && m.contains("toynet-cfg1-star") && !m.contains("rn20-"), m);
        m = assertThrows(IllegalArgumentException.class, () -> SeedExperiments.byId("x")).getMessage();
        assertTrue(m.contains("'x'") && m.contains("qat4j experiments"), m);
    }

    @Test
    void recipeJsonRoundTripsAndRefusesUnknownKeys() {
        Recipe r = Recipe.seedDefault("toynet");
        assertEquals(r, Recipe.fromJson(r.toJson(), "test"));
        var bad = r.toJson().put("nesterov", true);
        String m = assertThrows(IllegalArgumentException.class, () -> Recipe.fromJson(bad, "x.json")).getMessage();
        assertTrue(m.contains("x.json") && m.contains("'nesterov'"), m);
        var step = r.toJson().put("schedule", "step");
        m = assertThrows(IllegalArgumentException.class, () -> Recipe.fromJson(step, "x.json")).getMessage();
        assertTrue(m.contains("'step'"), m);
    }
}
