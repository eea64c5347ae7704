package dev.qat4j.integer;

import dev.qat4j.quant.RequantFormat;
import dev.qat4j.quant.Rounding;
import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The seed's ToyNet integer path ({@code algorithms.md} A4) as conversion settings: {@code edge} is the fixed-point
 * format of the layers outside residual blocks (stem, header, pool rescale; the seed used {@code fixed<32,16>}),
 * {@code middle} that of everything inside the blocks (the seed's BNbit/BNint, {@code ap_fixed<32,10>} by default),
 * and {@code on} the seed deviations from fake-quant that are switched on (all of them for the seed itself; fewer to
 * find out which one costs accuracy).
 *
 * <p>Text form ({@link #parse}, {@link #name}): {@code seed} or {@code seed<W,I>} (middle format; {@code seed} is
 * {@code seed<32,10>}), then any number of {@code -DEV} / {@code +DEV} switching a deviation off / on, applied left to
 * right from "all on"; {@code all} names every deviation. E.g. {@code seed<16,8>}, {@code seed<32,10>-trunc},
 * {@code seed<32,10>-all+stem}.
 */
public record SeedPath(RequantFormat.ApFixed edge, RequantFormat.ApFixed middle, Set<Deviation> on) {

    /** Where the seed's integer arithmetic leaves fake-quant; each can be switched on or off on its own. */
    public enum Deviation {
        /** Requant divisions truncate toward zero (off: half to even, as fake-quant's round). */
        TRUNC("trunc"),
        /** Signed codes clamp at -2^(b-1) (off: -(2^(b-1)-1) as fake-quant). */
        LOWCLAMP("lowclamp"),
        /** Multipliers (BN-folded rescale, residual factor) are fixed() values on the 2^-F grid (off: 32-bit mantissa). */
        FIXM("fixm"),
        /** Biases are fixed() values on the 2^-F grid, integer part saturated (off: exact to the requant's shift). */
        FIXB("fixb"),
        /** fixed() works in float32: its input and its result keep 24 significant bits (off: double). */
        F32("f32"),
        /** Stem: the float32 conv of the image with weight codes is truncated to an integer (off: the float stem). */
        STEM("stem"),
        /** Pool: mean truncated to an integer, then a floor rescale, clamp [-2^(b-1), 2^(b-1)] (off: exact sum). */
        POOL("pool"),
        /** BN before the downsample conv: truncated at the input's code scale, clamp ±2^(W-1) (off: 2^24-wide). */
        BNCONV("bnconv");

        private final String token;

        Deviation(String token) {
            this.token = token;
        }

        public String token() {
            return token;
        }
    }

    /** The seed's formats: stem and header {@code fixed<32,16>}, blocks {@code ap_fixed<32,10>}. */
    public static final RequantFormat.ApFixed SEED_EDGE = new RequantFormat.ApFixed(32, 16, Rounding.TOWARD_ZERO);
    public static final RequantFormat.ApFixed SEED_MIDDLE = new RequantFormat.ApFixed(32, 10, Rounding.TOWARD_ZERO);

    public SeedPath {
        if (edge == null || middle == null || on == null) {
            throw new IllegalArgumentException("seed path: formats and deviations must not be null");
        }
        on = on.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(on));
    }

    /** The seed itself: every deviation on, blocks at {@code middle}. */
    public static SeedPath seed(int totalBits, int intBits) {
        return new SeedPath(SEED_EDGE, new RequantFormat.ApFixed(totalBits, intBits, Rounding.TOWARD_ZERO),
                EnumSet.allOf(Deviation.class));
    }

    public boolean has(Deviation d) {
        return on.contains(d);
    }

    private static final Pattern SYNTAX = Pattern.compile("seed(?:<(\\d{1,2}),(\\d{1,2})>)?((?:[+-][a-z0-9]+)*)");
    private static final Pattern SWITCH = Pattern.compile("([+-])([a-z0-9]+)");

    /** Whether {@code text} is meant as a seed path (starts with "seed"), so that its errors are seed errors. */
    public static boolean looksLikeSeed(String text) {
        return text != null && text.trim().toLowerCase(Locale.ROOT).startsWith("seed");
    }

    /** Reads the text form (see the class comment); IllegalArgumentException naming the text otherwise. */
    public static SeedPath parse(String text) {
        String t = text == null ? "" : text.trim().toLowerCase(Locale.ROOT).replace(" ", "");
        Matcher m = SYNTAX.matcher(t);
        if (!m.matches()) {
            throw new IllegalArgumentException("seed path '" + text + "' is not seed, seed<W,I> or either followed by "
                    + "-DEV/+DEV switches (DEV: " + tokens() + ", all), e.g. seed<16,8> or seed<32,10>-trunc");
        }
        int w = m.group(1) == null ? 32 : Integer.parseInt(m.group(1));
        int i = m.group(2) == null ? 10 : Integer.parseInt(m.group(2));
        RequantFormat.ApFixed middle;
        try {
            middle = new RequantFormat.ApFixed(w, i, Rounding.TOWARD_ZERO);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("seed path '" + text + "': " + e.getMessage(), e);
        }
        EnumSet<Deviation> on = EnumSet.allOf(Deviation.class);
        Matcher s = SWITCH.matcher(m.group(3));
        while (s.find()) {
            EnumSet<Deviation> which = s.group(2).equals("all") ? EnumSet.allOf(Deviation.class)
                    : EnumSet.of(byToken(s.group(2), text));
            if (s.group(1).equals("+")) {
                on.addAll(which);
            } else {
                on.removeAll(which);
            }
        }
        return new SeedPath(SEED_EDGE, middle, on);
    }

    private static Deviation byToken(String token, String text) {
        for (Deviation d : Deviation.values()) {
            if (d.token.equals(token)) {
                return d;
            }
        }
        throw new IllegalArgumentException("seed path '" + text + "': unknown deviation '" + token + "' (known: "
                + tokens() + ", all)");
    }

    private static String tokens() {
        StringBuilder b = new StringBuilder();
        for (Deviation d : Deviation.values()) {
            b.append(b.length() == 0 ? "" : ", ").append(d.token);
        }
        return b.toString();
    }

    /** The text form that {@link #parse} reads back, shortest of "-off..." and "-all+on...". */
    public String name() {
        StringBuilder b = new StringBuilder("seed<" + middle.totalBits() + "," + middle.intBits() + ">");
        if (on.size() == Deviation.values().length) {
            return b.toString();
        }
        if (on.size() <= Deviation.values().length / 2) {
            b.append("-all");
            for (Deviation d : Deviation.values()) {
                if (on.contains(d)) {
                    b.append('+').append(d.token);
                }
            }
        } else {
            for (Deviation d : Deviation.values()) {
                if (!on.contains(d)) {
                    b.append('-').append(d.token);
                }
            }
        }
        return b.toString();
    }
}
