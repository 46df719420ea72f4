package org.semiringkernels.cli.demo;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Synthetic gene-structure sequences: DNA (A, C, G, T as 0..3) with a true segmentation into
 * intergenic (label 0), exon (1) and intron (2) regions. A sequence is intergenic, then genes
 * (exon, (intron, exon)*) separated by intergenic stretches, then intergenic. Durations follow
 * negative binomial laws with realistic-looking shapes (means: intergenic 220, exon 110, intron
 * 160; exons and introns have a minimum length). Composition depends on the label (exons GC-rich
 * with a period-3 codon bias, introns AT-rich, intergenic neutral); introns start with a splice
 * donor (GTAAGT, GT always) and end with an acceptor (TTTCAG, AG always), a gene's first exon
 * starts with ATG and its last ends with a stop codon. Not biology: enough structure that
 * per-position scores alone segment poorly, while boundary signals, durations and transitions
 * together can find exact boundaries.
 */
public final class GeneData {

    public static final int INTERGENIC = 0, EXON = 1, INTRON = 2, LABELS = 3, BASES = 4;
    public static final String[] LABEL_NAMES = {"intergenic", "exon", "intron"};

    /** One sequence: bases[t] in 0..3 and the true segments (start, end exclusive, label) in order. */
    public record Sequence(int[] bases, List<Segment> segments) {
        public int length() {
            return bases.length;
        }

        /** The label of every position. */
        public int[] labels() {
            int[] out = new int[bases.length];
            for (Segment s : segments) {
                for (int t = s.start(); t < s.end(); t++) {
                    out[t] = s.label();
                }
            }
            return out;
        }
    }

    public record Segment(int start, int end, int label) {
        public int duration() {
            return end - start;
        }
    }

    /** Base probabilities (A, C, G, T) per label; exons by codon position. */
    private static final double[] INTERGENIC_BASES = {0.27, 0.23, 0.23, 0.27};
    private static final double[] INTRON_BASES = {0.32, 0.18, 0.18, 0.32};
    private static final double[][] EXON_BASES = {{0.20, 0.30, 0.34, 0.16}, {0.24, 0.28, 0.22, 0.26}, {0.16, 0.34, 0.30, 0.20}};

    private GeneData() {
    }

    /**
     * count sequences of exactly `length` positions, reproducible for a seed, with every segment
     * at most maxDuration long (longer draws are cut there: the model's K).
     */
    public static List<Sequence> generate(int count, int length, int maxDuration, long seed) {
        Random rng = new Random(seed);
        List<Sequence> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            out.add(one(length, maxDuration, rng));
        }
        return out;
    }

    private static Sequence one(int length, int maxDuration, Random rng) {
        List<Segment> segments = new ArrayList<>();
        int t = 0;
        int label = INTERGENIC;
        while (t < length) {
            int d = Math.min(Math.min(duration(label, rng), maxDuration), length - t);
            segments.add(new Segment(t, t + d, label));
            t += d;
            label = next(label, rng);
        }
        int[] bases = new int[length];
        for (Segment s : segments) {
            for (int u = s.start(); u < s.end(); u++) {
                double[] p = switch (s.label()) {
                    case EXON -> EXON_BASES[(u - s.start()) % 3];
                    case INTRON -> INTRON_BASES;
                    default -> INTERGENIC_BASES;
                };
                bases[u] = sample(p, rng);
            }
        }
        for (int i = 0; i < segments.size(); i++) {
            Segment s = segments.get(i);
            boolean first = i > 0 && segments.get(i - 1).label() == INTERGENIC;
            boolean last = i + 1 < segments.size() && segments.get(i + 1).label() == INTERGENIC;
            if (s.label() == INTRON && s.duration() >= 12) {
                signal(bases, s.start(), DONOR, rng);                // GTAAGT, GT always
                signal(bases, s.end() - ACCEPTOR.length, ACCEPTOR, rng);  // TTTCAG, AG always
            } else if (s.label() == EXON && s.duration() >= 6) {
                if (first) {
                    signal(bases, s.start(), START_CODON, rng);
                }
                if (last) {
                    signal(bases, s.end() - 3, STOP_CODONS[rng.nextInt(STOP_CODONS.length)], rng);
                }
            }
        }
        return new Sequence(bases, segments);
    }

    // Boundary signals (A=0, C=1, G=2, T=3): the splice donor at an intron's start, the acceptor
    // (polypyrimidine + AG) at its end, the start codon ATG at a gene's first exon, a stop codon at
    // its last. Splice consensus positions other than GT / AG match with probability 0.85.
    private static final int[] DONOR = {2, 3, 0, 0, 2, 3};
    private static final int[] ACCEPTOR = {3, 3, 3, 1, 0, 2};
    private static final int[] START_CODON = {0, 3, 2};
    private static final int[][] STOP_CODONS = {{3, 0, 0}, {3, 0, 2}, {3, 2, 0}};

    private static void signal(int[] bases, int at, int[] motif, Random rng) {
        boolean splice = motif == DONOR || motif == ACCEPTOR;
        for (int i = 0; i < motif.length; i++) {
            boolean fixed = !splice || (motif == DONOR ? i < 2 : i >= motif.length - 2);
            bases[at + i] = fixed || rng.nextDouble() < 0.85 ? motif[i] : rng.nextInt(BASES);
        }
    }

    /** Intergenic -> exon; exon -> intron (0.6) or intergenic; intron -> exon. */
    private static int next(int label, Random rng) {
        return switch (label) {
            case INTERGENIC -> EXON;
            case EXON -> rng.nextDouble() < 0.6 ? INTRON : INTERGENIC;
            default -> EXON;
        };
    }

    /** Negative binomial durations: minimum + NB(r, p) with the label's mean. */
    static int duration(int label, Random rng) {
        return switch (label) {
            case EXON -> 30 + negativeBinomial(4, 80, rng);
            case INTRON -> 40 + negativeBinomial(2, 120, rng);
            default -> 20 + negativeBinomial(2, 200, rng);
        };
    }

    /** A negative binomial draw with shape r and mean m, as a sum of r geometric draws. */
    static int negativeBinomial(int r, double mean, Random rng) {
        double p = r / (r + mean);  // success probability
        int total = 0;
        for (int i = 0; i < r; i++) {
            total += (int) Math.floor(Math.log(1 - rng.nextDouble()) / Math.log(1 - p));
        }
        return total;
    }

    private static int sample(double[] p, Random rng) {
        double u = rng.nextDouble(), acc = 0;
        for (int i = 0; i < p.length; i++) {
            acc += p[i];
            if (u < acc) {
                return i;
            }
        }
        return p.length - 1;
    }
}
