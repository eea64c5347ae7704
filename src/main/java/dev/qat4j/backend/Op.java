package dev.qat4j.backend;

/**
 * Every compute op of {@link Backend}, one constant per public op method, in the order of the native list
 * {@code src/main/cpp/qat4j_ops.inc} ({@code OpListTest} checks that the two agree name by name).
 *
 * <p>This list drives what must exist for each op: the op-timing names ({@link Backend.OpTimer}), which ops a backend
 * runs itself ({@link Backend#supportsNatively}), the table-driven conformance and boundary-fuzz tests (every op on
 * every ISA level), the JMH {@code OpBenchmark}'s parameter, the native test driver and the CUDA profiling names.
 * Adding an op: a constant here, a row in {@code qat4j_ops.inc}, then the files listed in
 * {@code docs/architecture.md}; the compiler and {@code OpListTest} point at whatever is still missing.
 */
public enum Op {
    CONV2D("conv2d"),
    CONV2D_BACKWARD_DATA("conv2dBackwardData"),
    CONV2D_BACKWARD_WEIGHT("conv2dBackwardWeight"),
    BIAS_BACKWARD("biasBackward"),
    LINEAR("linear"),
    LINEAR_BACKWARD_DATA("linearBackwardData"),
    LINEAR_BACKWARD_WEIGHT("linearBackwardWeight"),
    /** Also updates the running statistics in place. */
    BATCH_NORM2D_TRAIN("batchNorm2dTrain"),
    BATCH_NORM2D_EVAL("batchNorm2dEval"),
    BATCH_NORM2D_BACKWARD("batchNorm2dBackward"),
    RELU("relu"),
    RELU6("relu6"),
    RELU_BACKWARD("reluBackward"),
    RELU6_BACKWARD("relu6Backward"),
    AVG_POOL2D("avgPool2d"),
    AVG_POOL2D_BACKWARD("avgPool2dBackward"),
    ADAPTIVE_AVG_POOL2D("adaptiveAvgPool2d"),
    ADAPTIVE_AVG_POOL2D_BACKWARD("adaptiveAvgPool2dBackward"),
    ADD("add"),
    SOFTMAX_CROSS_ENTROPY("softmaxCrossEntropy"),
    /** Updates the parameter and its momentum buffer in place. */
    SGD_STEP("sgdStep"),
    ACT_QUANT("actQuant"),
    ACT_QUANT_BACKWARD("actQuantBackward"),
    WEIGHT_QUANT("weightQuant"),
    WEIGHT_QUANT_BACKWARD("weightQuantBackward"),
    CONV2D_INT("conv2dInt"),
    GEMM_INT("gemmInt"),
    REQUANTIZE("requantize"),
    REQUANTIZE_RESIDUAL("requantizeResidual"),
    AUGMENT_BATCH("augmentBatch"),
    ACCUMULATE_CONFUSION("accumulateConfusion"),
    SGD_STEPS("sgdSteps");

    private final String methodName;

    Op(String methodName) {
        this.methodName = methodName;
    }

    /** The {@link Backend} method's name: what error messages, op timings and profiles call this op. */
    public String methodName() {
        return methodName;
    }

    /**
     * Whether the op writes into one of its operands. Such ops cannot be routed to the reference backend on copies
     * (the write would land in the copy), so every backend must run them itself.
     */
    public boolean updatesOperandsInPlace() {
        return this == SGD_STEP || this == BATCH_NORM2D_TRAIN || this == ACCUMULATE_CONFUSION || this == SGD_STEPS;
    }

    /** Whether the op's results are integers, which every backend must reproduce exactly. */
    public boolean integerResult() {
        return this == CONV2D_INT || this == GEMM_INT || this == REQUANTIZE || this == REQUANTIZE_RESIDUAL;
    }

    @Override
    public String toString() {
        return methodName;
    }
}
