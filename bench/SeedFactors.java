import dev.qat4j.backend.Backends;
import dev.qat4j.checkpoint.*;
import dev.qat4j.models.*;
import dev.qat4j.integer.*;
import java.nio.file.Path;

/** Per layer of the seed path seed<32,10> on a checkpoint: the real multipliers |M| and biases |B| (in output codes), how many biases a <32,10> / <16,8> / <16,6> integer part would saturate, and how many multipliers are at most 1 LSB at F = 8. Run: java -cp target/qat4j.jar bench/SeedFactors.java CKPT */
public class SeedFactors {
    public static void main(String[] a) throws Exception {
        var b = Backends.byName("ref");
        Checkpoint c = CheckpointIO.read(Path.of(a[0]));
        QuantModel m = Models.build(c.model(), BitWidths.fromYaml(c.metaString(ModelState.BITS_KEY), c.model(), "x"), b, 0);
        ModelState.load(m, c);
        IntegerModel im = IntegerConverter.convert(m, IntegerConverter.Options.seed());
        for (IntLayer l : im.layers()) {
            if (l.multiplier() == null) continue;
            int n = l.multiplier().length;
            double[] mv = new double[n], bv = new double[n];
            for (int i = 0; i < n; i++) { mv[i] = Math.abs(Math.scalb((double) l.multiplier()[i], -l.shift()[i])); bv[i] = Math.abs(Math.scalb((double) l.bias()[i], -l.shift()[i])); }
            java.util.Arrays.sort(mv); java.util.Arrays.sort(bv);
            long over512 = java.util.Arrays.stream(bv).filter(x -> x >= 511.5).count();
            long over128 = java.util.Arrays.stream(bv).filter(x -> x >= 127.5).count();
            long over32 = java.util.Arrays.stream(bv).filter(x -> x >= 31.5).count();
            long tinyAt8 = java.util.Arrays.stream(mv).filter(x -> x * 256 < 1.5).count();
            System.out.printf("%-16s |M| min %.3g median %.3g max %.3g   |B| median %.3g max %.3g  |B|>=512: %d  >=128: %d  >=32: %d  |M|<=1 LSB at F=8: %d  of %d%n",
                l.name(), mv[0], mv[n/2], mv[n-1], bv[n/2], bv[n-1], over512, over128, over32, tinyAt8, n);
        }
    }
}
