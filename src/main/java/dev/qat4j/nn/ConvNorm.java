package dev.qat4j.nn;

import java.util.ArrayList;
import java.util.List;

/**
 * The seed's {@code ConvNorm}: Q(BN(conv(x))) with no ReLU, the symmetric clamp of the quantizer being the only
 * nonlinearity (ToyNet's stem and header). {@code quant} may be null for a plain conv + BN.
 */
public final class ConvNorm extends Sequential {
    public ConvNorm(String name, QConv2d conv, BatchNorm2d bn, ActQuant quant) {
        super(name, parts(conv, bn, quant));
    }

    private static List<Module> parts(QConv2d conv, BatchNorm2d bn, ActQuant quant) {
        List<Module> p = new ArrayList<>(List.of(conv, bn));
        if (quant != null) {
            p.add(quant);
        }
        return p;
    }
}
