package dev.qat4j.fuzz;

import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * A small mutation fuzzer for the file parsers ({@code *FuzzTest}), run by plain JUnit: input {@code i} of a
 * target is generated from {@code SplittableRandom(seed + i)}, typically by applying a few {@link Mutation}s to a
 * valid seed file, and checked by the target's body. A failure names the target, the input number, the seed and
 * what the body noted (the mutations), so it reproduces exactly.
 *
 * <p>Each target runs its own default number of inputs (a few seconds inside {@code mvn verify});
 * {@code -Dqat4j.fuzz.scale=N} multiplies them all and {@code -Dqat4j.fuzz.seed=S} changes the seed (default
 * fixed, so {@code verify} is deterministic). A longer hunt:
 * {@code mvn -B test -Dtest='*FuzzTest' -Dqat4j.fuzz.scale=50 -Dqat4j.fuzz.seed=$RANDOM}.
 *
 * <p>Jazzer's JUnit integration is not served by the package registry here; jqwik was tried and dropped because
 * its 1.10.1 engine prints a message addressed to automated agents into every test run's output.
 */
public final class Fuzz {
    private Fuzz() {
    }

    /** One generated input: its random source and notes for the failure message. */
    public static final class Input {
        public final SplittableRandom random;
        final List<String> notes = new ArrayList<>();

        Input(long seed) {
            this.random = new SplittableRandom(seed);
        }

        /** Records what was generated (printed only when this input fails). */
        public void note(Object what) {
            notes.add(String.valueOf(what));
        }

        /** 1..{@code max} random mutations, noted. */
        public List<Mutation> mutations(int max) {
            int n = 1 + random.nextInt(max);
            List<Mutation> ms = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                Mutation.Kind[] kinds = Mutation.Kind.values();
                ms.add(new Mutation(kinds[random.nextInt(kinds.length)], random.nextInt(Integer.MAX_VALUE),
                    random.nextInt(1 << 16), random.nextLong()));
            }
            note(ms);
            return ms;
        }

        public boolean chance(double p) {
            return random.nextDouble() < p;
        }

        public <T> T pick(List<T> options) {
            return options.get(random.nextInt(options.size()));
        }
    }

    /** The body of a target: generate from {@code in}, run the parser, check the outcome, return the outcome name. */
    @FunctionalInterface
    public interface Body {
        String run(Input in) throws Exception;
    }

    /** The outcome counts of one target run (outcome name: "valid" or an exception's simple name). */
    public record Report(String target, int inputs, Map<String, Integer> outcomes, double slowestMs, String slowest) {
        public int count(String outcome) {
            return outcomes.getOrDefault(outcome, 0);
        }

        public int invalid() {
            return inputs - count("valid");
        }

        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "fuzz %s: %d inputs, outcomes %s, slowest input %.1f ms (%s)",
                target, inputs, outcomes, slowestMs, slowest);
        }
    }

    public static int scale() {
        return Math.max(1, Integer.getInteger("qat4j.fuzz.scale", 1));
    }

    public static long seed() {
        return Long.getLong("qat4j.fuzz.seed", 20261126L);
    }

    /** Runs {@code inputs x scale()} inputs through {@code body}; the first failure stops the run. */
    public static Report run(String target, int inputs, Body body) {
        int n = inputs * scale();
        long seed = seed();
        Map<String, Integer> outcomes = new TreeMap<>();
        long slowest = 0; // reported, not asserted: evidence that no input makes a parser spin
        String slowestInput = "none";
        for (int i = 0; i < n; i++) {
            Input in = new Input(seed * 1_000_003L + target.hashCode() * 31L + i);
            String outcome;
            long t0 = System.nanoTime();
            try {
                outcome = body.run(in);
            } catch (Throwable t) {
                AssertionError e = new AssertionError("fuzz " + target + ": input #" + i + " (-Dqat4j.fuzz.seed="
                    + seed + ") failed: " + t + "\n  generated: " + String.join("\n  ", in.notes), t);
                throw e;
            }
            long took = System.nanoTime() - t0;
            if (took > slowest) {
                slowest = took;
                slowestInput = "#" + i + ": " + String.join("; ", in.notes);
            }
            outcomes.merge(outcome, 1, Integer::sum);
        }
        Report r = new Report(target, n, outcomes, slowest / 1e6, slowestInput);
        System.out.println(r);
        return r;
    }

    private static final com.sun.management.ThreadMXBean THREADS =
        (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    /** Bytes allocated on the heap by the current thread so far (monotonic). */
    public static long allocatedBytes() {
        return THREADS.getCurrentThreadAllocatedBytes();
    }

    /**
     * Fails when the current thread allocated more than {@code 32 MiB + 4 x maxContent} since {@code before}: a
     * parser holds its result (about 1x the content) and buffers, so more means it trusted a size field.
     */
    public static void assertAllocationBounded(long before, long maxContent, String what) {
        long used = allocatedBytes() - before;
        long bound = 32L * 1024 * 1024 + 4 * maxContent;
        if (used > bound) {
            throw new AssertionError(what + ": allocated " + used + " bytes for an input that can hold at most "
                + maxContent + " bytes of content (bound " + bound + "): a size field was trusted");
        }
    }
}
