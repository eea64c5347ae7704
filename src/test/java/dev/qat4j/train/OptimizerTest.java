package dev.qat4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.qat4j.backend.Backend;
import dev.qat4j.backend.cpu.CpuBackend;
import dev.qat4j.backend.ref.RefBackend;
import dev.qat4j.nn.Parameter;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class OptimizerTest {
    static Stream<Backend> backends() {
        return Stream.of(RefBackend.INSTANCE, CpuBackend.get());
    }

    private static Parameter param(Backend b, Parameter.Kind kind, float value) {
        return new Parameter("p", kind, b.fromFloats(new float[] {value}, 1));
    }

    private static float run(Backend b, Parameter p, Optimizer opt, float grad, float lr, int steps) {
        for (int i = 0; i < steps; i++) {
            p.setGrad(b.fromFloats(new float[] {grad}, 1));
            opt.step(lr);
        }
        return p.value().toFloatArray()[0];
    }

    /** torch.optim.SGD(lr=0.1, momentum=0.9) on p = 1 with a constant gradient 1: 0.9, 0.71, 0.439 (by hand). */
    @ParameterizedTest
    @MethodSource("backends")
    void momentumMatchesTorchSemantics(Backend b) {
        Parameter p = param(b, Parameter.Kind.WEIGHT, 1f);
        try (Optimizer opt = new Optimizer(List.of(p), 0.9f, 0f, false, true, 0f)) {
            assertEquals(0.9f, run(b, p, opt, 1f, 0.1f, 1), 1e-6f);
            assertEquals(0.71f, run(b, p, opt, 1f, 0.1f, 1), 1e-6f);
            assertEquals(0.439f, run(b, p, opt, 1f, 0.1f, 1), 1e-6f);
        }
        // Nesterov: step = g + m*buf: 1.9 then 2.71 -> 0.81, 0.539.
        Parameter q = param(b, Parameter.Kind.WEIGHT, 1f);
        try (Optimizer opt = new Optimizer(List.of(q), 0.9f, 0f, true, true, 0f)) {
            assertEquals(0.81f, run(b, q, opt, 1f, 0.1f, 1), 1e-6f);
            assertEquals(0.539f, run(b, q, opt, 1f, 0.1f, 1), 1e-6f);
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void weightDecayCanSpareNormAndAlpha(Backend b) {
        Parameter w = param(b, Parameter.Kind.WEIGHT, 2f), gamma = param(b, Parameter.Kind.NORM, 2f);
        try (Optimizer opt = new Optimizer(List.of(w, gamma), 0f, 0.5f, false, false, 0f)) {
            w.setGrad(b.fromFloats(new float[] {0f}, 1));
            gamma.setGrad(b.fromFloats(new float[] {0f}, 1));
            opt.step(0.1f);
            assertEquals(2f - 0.1f * 0.5f * 2f, w.value().toFloatArray()[0], 1e-6f, "weights decay");
            assertEquals(2f, gamma.value().toFloatArray()[0], 0f, "BN γ does not");
        }
        Parameter g2 = param(b, Parameter.Kind.NORM, 2f);
        try (Optimizer opt = new Optimizer(List.of(g2), 0f, 0.5f, false, true, 0f)) {
            assertEquals(1.9f, run(b, g2, opt, 0f, 0.1f, 1), 1e-6f, "the seed decays everything");
        }
    }

    @ParameterizedTest
    @MethodSource("backends")
    void alphaPenaltyAddsItsGradient(Backend b) {
        Parameter alpha = param(b, Parameter.Kind.ALPHA, 6f);
        try (Optimizer opt = new Optimizer(List.of(alpha), 0f, 0f, false, true, 2e-4f)) {
            assertEquals(2e-4f * 36f, opt.alphaPenaltyLoss(), 1e-9f);
            // d(λα²)/dα = 2λα = 0.0024; lr 1, no momentum: α = 6 - 0.0024
            assertEquals(6f - 0.0024f, run(b, alpha, opt, 0f, 1f, 1), 1e-6f);
        }
    }

    @Test
    void parametersWithoutGradientAreLeftAlone() {
        Backend b = RefBackend.INSTANCE;
        Parameter unused = param(b, Parameter.Kind.WEIGHT, 3f);
        try (Optimizer opt = Optimizer.seedDefaults(List.of(unused))) {
            opt.step(0.1f);
            assertEquals(3f, unused.value().toFloatArray()[0], 0f);
            assertTrue(opt.momentumBuffers().isEmpty());
        }
    }

    @Test
    void scheduleIsCosineWithWarmUp() {
        LearningRateSchedule s = new LearningRateSchedule(0.1f, 0f, 10, 0);
        assertEquals(0.1f, s.at(0), 0f);
        assertEquals(0.05f, s.at(5), 1e-7f, "half way is the mean of lr and eta_min");
        for (int e = 1; e < 10; e++) {
            assertTrue(s.at(e) < s.at(e - 1), "decreasing at " + e);
        }
        LearningRateSchedule w = new LearningRateSchedule(0.1f, 1e-3f, 12, 2);
        assertEquals(0.1f / 3, w.at(0), 1e-7f);
        assertEquals(0.2f / 3, w.at(1), 1e-7f);
        assertEquals(0.1f, w.at(2), 0f, "cosine starts after the warm-up");
        assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(0.1f, 0.2f, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(0.1f, 0f, 10, 10));
        assertThrows(IllegalArgumentException.class, () -> new Optimizer(List.of(), 1.5f, 0f, false, true, 0f));
    }
}
