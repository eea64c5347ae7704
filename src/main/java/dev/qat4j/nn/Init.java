package dev.qat4j.nn;

import java.util.SplittableRandom;

/**
 * Weight initialisations of the seed, as torch defines them. fan_in = (C_in/groups)*kH*kW, fan_out = C_out*kH*kW
 * (torch's {@code _calculate_fan_in_and_fan_out} on a [C_out, C_in/groups, kH, kW] weight).
 */
public enum Init {
    /** kaiming_normal_(mode='fan_out', nonlinearity='relu'): N(0, 2/fan_out). ToyNet convs. */
    KAIMING_NORMAL_FAN_OUT,
    /** kaiming_uniform_(nonlinearity='relu'), fan_in: U(-b, b), b = sqrt(6/fan_in). ResNet20 convs. */
    KAIMING_UNIFORM,
    /** torch's default for Conv2d and Linear (kaiming_uniform_ with a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
    TORCH_DEFAULT,
    /** normal_(0, 0.001): the seed's ToyNet Linear (std 0.001). */
    NORMAL_STD_0_001;

    /** Draws the weights of a tensor of the given fans. */
    public float[] sample(SplittableRandom rnd, int count, int fanIn, int fanOut) {
        float[] w = new float[count];
        for (int i = 0; i < count; i++) {
            w[i] = switch (this) {
                case KAIMING_NORMAL_FAN_OUT -> (float) (rnd.nextGaussian() * Math.sqrt(2.0 / fanOut));
                case KAIMING_UNIFORM -> (float) rnd.nextDouble(-Math.sqrt(6.0 / fanIn), Math.sqrt(6.0 / fanIn));
                case TORCH_DEFAULT -> (float) rnd.nextDouble(-1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn));
                case NORMAL_STD_0_001 -> (float) (rnd.nextGaussian() * 0.001);
            };
        }
        return w;
    }
}
