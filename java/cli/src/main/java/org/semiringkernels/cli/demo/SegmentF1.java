package org.semiringkernels.cli.demo;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Segment-level precision, recall and F1 of predicted against true segmentations, the measure
 * gene finders report for exons: a predicted segment counts as correct when a true segment has
 * the same start, end and label. Optionally restricted to one label.
 */
public final class SegmentF1 {

    private long truePositive, predicted, actual;

    /** Adds one sequence; label < 0 counts every label. */
    public void add(List<GeneData.Segment> truth, List<GeneData.Segment> prediction, int label) {
        Set<GeneData.Segment> gold = new HashSet<>();
        for (GeneData.Segment s : truth) {
            if (label < 0 || s.label() == label) {
                gold.add(s);
                actual++;
            }
        }
        for (GeneData.Segment s : prediction) {
            if (label < 0 || s.label() == label) {
                predicted++;
                if (gold.contains(s)) {
                    truePositive++;
                }
            }
        }
    }

    public double precision() {
        return predicted == 0 ? 0 : (double) truePositive / predicted;
    }

    public double recall() {
        return actual == 0 ? 0 : (double) truePositive / actual;
    }

    public double f1() {
        double p = precision(), r = recall();
        return p + r == 0 ? 0 : 2 * p * r / (p + r);
    }
}
