package dev.qat4j.backend.cpu;

import dev.qat4j.backend.IntegerProgram;
import dev.qat4j.tensor.DType;
import java.io.ByteArrayOutputStream;
import java.lang.ref.Cleaner;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An {@link IntegerProgram} compiled by the cpu backend (src/main/cpp/int_program.cpp): the description flattened into
 * the C ABI's arrays once, the weights packed natively once, every run one native call. The native program is freed
 * by {@link #close} (or, as a last resort, when this object becomes unreachable).
 */
final class CpuIntegerProgram implements IntegerProgram.Compiled {
    private static final Cleaner CLEANER = Cleaner.create();

    // mirrors of qat4j_kernels.h (NativeConstantsTest checks them)
    static final int ERR_UNSUPPORTED = 3;
    static final int STEP_CONV = 0;
    static final int STEP_REQUANT = 1;
    static final int STEP_SUM_POOL = 2;
    static final int STEP_LINEAR = 3;
    static final int VALUE_INT8 = 1;
    static final int VALUE_UINT8 = 2;
    static final int VALUE_INT32 = 3;
    static final int STEP_FIELDS = 20;
    static final int F_KIND = 0;
    static final int F_INPUT = 1;
    static final int F_RESIDUAL = 2;
    static final int F_C = 3;
    static final int F_H = 4;
    static final int F_W = 5;
    static final int F_CO = 6;
    static final int F_KH = 7;
    static final int F_KW = 8;
    static final int F_STRIDE = 9;
    static final int F_PAD = 10;
    static final int F_GROUPS = 11;
    static final int F_WEIGHTS = 12;
    static final int F_PARAMS = 13;
    static final int F_BIAS = 14;
    static final int F_ROUNDING = 15;
    static final int F_QMIN = 16;
    static final int F_QMAX = 17;
    static final int F_POOL = 18;
    static final int F_FRAC = 19;

    private final CpuBackend backend;
    private final AtomicLong handle;
    private final java.util.concurrent.locks.ReentrantReadWriteLock lock =
            new java.util.concurrent.locks.ReentrantReadWriteLock();
    private final Cleaner.Cleanable cleanable;
    private final long inputBytes;
    private final long outputs;
    private final int steps;
    private final IntegerProgram.Value input;

    private CpuIntegerProgram(CpuBackend backend, long handle, IntegerProgram program) {
        this.backend = backend;
        this.handle = new AtomicLong(handle);
        AtomicLong h = this.handle;
        this.cleanable = CLEANER.register(this, () -> free(h));
        this.input = program.values().get(0);
        this.inputBytes = input.numel();
        this.outputs = program.outputsPerImage();
        this.steps = program.steps().size();
    }

    private static void free(AtomicLong h) {
        long p = h.getAndSet(0);
        if (p != 0) {
            NativeKernels.qat4j_int_program_free(p);
        }
    }

    /** The compiled program, or null when the kernels at {@code isa} cannot run it (no AVX-512 VNNI). */
    static CpuIntegerProgram compile(CpuBackend backend, int isa, IntegerProgram program) {
        List<IntegerProgram.Value> values = program.values();
        List<IntegerProgram.Step> steps = program.steps();
        long[] valueDesc = new long[2 * values.size()];
        for (int v = 0; v < values.size(); v++) {
            IntegerProgram.Value val = values.get(v);
            valueDesc[2 * v] = switch (val.dtype()) {
                case INT8 -> VALUE_INT8;
                case UINT8 -> VALUE_UINT8;
                default -> VALUE_INT32; // INT32, or the int64 logits of a linear step (not stored in the arena)
            };
            valueDesc[2 * v + 1] = val.numel();
        }
        long[] desc = new long[STEP_FIELDS * steps.size()];
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        IntList ints = new IntList();
        List<long[]> longs = new ArrayList<>();
        long longCount = 0;
        for (int i = 0; i < steps.size(); i++) {
            IntegerProgram.Step s = steps.get(i);
            int d = i * STEP_FIELDS;
            desc[d + F_INPUT] = s.input();
            desc[d + F_RESIDUAL] = -1;
            int[] in = values.get(s.input()).shape();
            desc[d + F_C] = in[0];
            desc[d + F_H] = in.length > 1 ? in[1] : 1;
            desc[d + F_W] = in.length > 2 ? in[2] : 1;
            IntegerProgram.Epilogue e = null;
            if (s instanceof IntegerProgram.Conv c) {
                desc[d + F_KIND] = STEP_CONV;
                desc[d + F_CO] = c.weightShape()[0];
                desc[d + F_KH] = c.weightShape()[2];
                desc[d + F_KW] = c.weightShape()[3];
                desc[d + F_STRIDE] = c.stride();
                desc[d + F_PAD] = c.pad();
                desc[d + F_GROUPS] = c.groups();
                desc[d + F_WEIGHTS] = bytes.size();
                bytes.write(c.weights(), 0, c.weights().length);
                e = c.epilogue();
            } else if (s instanceof IntegerProgram.Requant r) {
                desc[d + F_KIND] = STEP_REQUANT;
                desc[d + F_CO] = in[0];
                e = r.epilogue();
            } else if (s instanceof IntegerProgram.SumPool p) {
                desc[d + F_KIND] = STEP_SUM_POOL;
                desc[d + F_POOL] = p.kernel();
            } else {
                IntegerProgram.Linear l = (IntegerProgram.Linear) s;
                desc[d + F_KIND] = STEP_LINEAR;
                desc[d + F_CO] = l.outputs();
                desc[d + F_WEIGHTS] = ints.size();
                ints.add(l.weights());
                desc[d + F_BIAS] = longCount;
                longs.add(l.bias());
                longCount += l.bias().length;
                desc[d + F_FRAC] = l.fracBits();
            }
            if (e != null) {
                desc[d + F_RESIDUAL] = e.residual();
                desc[d + F_PARAMS] = ints.size();
                ints.add(e.multiplier());
                ints.add(e.shift());
                if (e.residualMultiplier() != null) {
                    ints.add(e.residualMultiplier());
                }
                desc[d + F_BIAS] = longCount;
                longs.add(e.bias());
                longCount += e.bias().length;
                desc[d + F_ROUNDING] = CpuBackend.nativeRounding(e.rounding());
                desc[d + F_QMIN] = e.qmin();
                desc[d + F_QMAX] = e.qmax();
            }
        }
        long[] allLongs = new long[(int) Math.max(1, longCount)];
        int at = 0;
        for (long[] b : longs) {
            System.arraycopy(b, 0, allLongs, at, b.length);
            at += b.length;
        }
        byte[] allBytes = bytes.size() == 0 ? new byte[1] : bytes.toByteArray();
        long[] handle = new long[1];
        backend.prepareCallingThread();
        int status = NativeKernels.qat4j_int_program_create(steps.size(), desc, values.size(), valueDesc, allBytes,
                ints.toArray(), allLongs, isa, handle);
        if (status == ERR_UNSUPPORTED) {
            return null;
        }
        if (status == CpuBackend.QAT4J_ERR_NO_MEMORY) {
            throw new OutOfMemoryError("cpu backend: compileIntegerProgram: native memory for the program could not "
                    + "be allocated");
        }
        if (status != CpuBackend.QAT4J_OK) {
            throw new IllegalStateException("cpu backend: compileIntegerProgram: native status " + status);
        }
        return new CpuIntegerProgram(backend, handle[0], program);
    }

    @Override
    public long[] run(byte[] codes, int n) {
        return call(codes, n, null);
    }

    @Override
    public long[] stepNanos(byte[] codes, int n) {
        long[] ns = new long[steps];
        call(codes, n, ns);
        return ns;
    }

    /** One native run ({@code stepNanos} null) or profile; the codes checked first. */
    private long[] call(byte[] codes, int n, long[] stepNanos) {
        if (codes == null || n < 1 || codes.length != (long) n * inputBytes) {
            throw new IllegalArgumentException("integer program: expected " + n + " x " + inputBytes
                    + " input codes, got " + (codes == null ? "null" : codes.length));
        }
        if (input.lo() > (input.dtype() == DType.INT8 ? -128 : 0) || input.hi() < (input.dtype() == DType.INT8
                ? 127 : 255)) {
            boolean signed = input.dtype() == DType.INT8;
            for (int i = 0; i < codes.length; i++) {
                int c = signed ? codes[i] : codes[i] & 0xff;
                if (c < input.lo() || c > input.hi()) {
                    throw new IllegalArgumentException("integer program: input code " + c + " at offset " + i
                            + " is outside [" + input.lo() + ", " + input.hi() + "]");
                }
            }
        }
        long[] out = new long[Math.toIntExact(n * outputs)];
        lock.readLock().lock(); // runs share the program; close() waits for them
        try {
            long h = handle.get();
            if (h == 0) {
                throw new IllegalStateException("integer program: already closed");
            }
            backend.prepareCallingThread();
            int status = stepNanos == null ? NativeKernels.qat4j_int_program_run(h, codes, n, out)
                    : NativeKernels.qat4j_int_program_profile(h, codes, n, out, stepNanos);
            if (status == CpuBackend.QAT4J_ERR_NO_MEMORY) {
                throw new OutOfMemoryError("cpu backend: integer program: native work buffers could not be allocated");
            }
            if (status != CpuBackend.QAT4J_OK) {
                throw new IllegalStateException("cpu backend: integer program: native status " + status);
            }
        } finally {
            lock.readLock().unlock();
        }
        return out;
    }

    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            cleanable.clean();
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** A growable int array (the concatenated int32 parameters). */
    private static final class IntList {
        private int[] a = new int[256];
        private int size;

        int size() {
            return size;
        }

        void add(int[] v) {
            if (size + v.length > a.length) {
                a = java.util.Arrays.copyOf(a, Math.max(2 * a.length, size + v.length));
            }
            System.arraycopy(v, 0, a, size, v.length);
            size += v.length;
        }

        int[] toArray() {
            return size == 0 ? new int[1] : java.util.Arrays.copyOf(a, size);
        }
    }
}
