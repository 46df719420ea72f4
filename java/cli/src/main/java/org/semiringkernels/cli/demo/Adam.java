package org.semiringkernels.cli.demo;

/**
 * The Adam optimiser over one flat parameter vector (Kingma and Ba, 2015): m <- b1 m + (1 - b1) g,
 * v <- b2 v + (1 - b2) g^2, p <- p - lr m_hat / (sqrt(v_hat) + eps) with bias-corrected moments.
 */
public final class Adam {

    private final double rate, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;
    private final double[] m, v;
    private int step;

    public Adam(int size, double rate) {
        this.rate = rate;
        this.m = new double[size];
        this.v = new double[size];
    }

    /** One step: params -= the update for gradient g (same length). */
    public void step(double[] params, double[] g) {
        step++;
        double c1 = 1 - Math.pow(beta1, step), c2 = 1 - Math.pow(beta2, step);
        for (int i = 0; i < params.length; i++) {
            m[i] = beta1 * m[i] + (1 - beta1) * g[i];
            v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
            params[i] -= rate * (m[i] / c1) / (Math.sqrt(v[i] / c2) + epsilon);
        }
    }
}
