package dev.qat4j.backend;

/**
 * Geometry of a 2-D convolution in NCHW: stride, zero padding (same on both sides of an axis) and groups.
 * Depthwise is {@code groups == C_in == C_out}. Output size per axis: {@code (in + 2*pad - k) / stride + 1}.
 */
public record ConvParams(int strideH, int strideW, int padH, int padW, int groups) {

    public ConvParams {
        if (strideH < 1 || strideW < 1) {
            throw new IllegalArgumentException("ConvParams: stride must be >= 1, got " + strideH + "x" + strideW);
        }
        if (padH < 0 || padW < 0) {
            throw new IllegalArgumentException("ConvParams: padding must be >= 0, got " + padH + "x" + padW);
        }
        if (groups < 1) {
            throw new IllegalArgumentException("ConvParams: groups must be >= 1, got " + groups);
        }
    }

    public static ConvParams of(int stride, int pad) {
        return new ConvParams(stride, stride, pad, pad, 1);
    }

    public static ConvParams of(int stride, int pad, int groups) {
        return new ConvParams(stride, stride, pad, pad, groups);
    }

    public int outH(int inH, int kH) {
        return (inH + 2 * padH - kH) / strideH + 1;
    }

    public int outW(int inW, int kW) {
        return (inW + 2 * padW - kW) / strideW + 1;
    }
}
