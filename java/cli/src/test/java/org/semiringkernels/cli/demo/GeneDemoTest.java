package org.semiringkernels.cli.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.semiringkernels.Context;
import org.semiringkernels.Device;

/** The demo's gene-structure job: data, gradient of the whole model, and that training learns. */
class GeneDemoTest {

    @TempDir
    Path dir;

    static final GeneDemo.Config SMALL = new GeneDemo.Config(6, 3, 300, 120, 6, 2, 3, 0.02, 3);

    @Test
    void generatedSegmentationsTileTheSequenceWithinTheDurationCap() {
        for (GeneData.Sequence s : GeneData.generate(20, 700, 150, 9)) {
            int at = 0;
            GeneData.Segment previous = null;
            for (GeneData.Segment seg : s.segments()) {
                assertEquals(at, seg.start());
                assertTrue(seg.duration() >= 1 && seg.duration() <= 150, seg.toString());
                if (previous != null) {
                    assertTrue(previous.label() != seg.label(), "no two neighbours share a label: " + s.segments());
                    if (seg.label() == GeneData.INTRON) {
                        assertEquals(GeneData.EXON, previous.label());
                    }
                }
                at = seg.end();
                previous = seg;
            }
            assertEquals(700, at);
            for (GeneData.Segment seg : s.segments()) {
                if (seg.label() == GeneData.INTRON && seg.duration() >= 12) {
                    int[] b = s.bases();
                    assertTrue(b[seg.start()] == 2 && b[seg.start() + 1] == 3, "intron starts with GT");
                    assertTrue(b[seg.end() - 2] == 0 && b[seg.end() - 1] == 2, "intron ends with AG");
                }
            }
        }
    }

    /**
     * The hand-written chain rule (features, boundary matrices, transition, start, negative
     * binomial prior through exp / sigmoid) against central differences of the loss.
     */
    @Test
    void gradientOfTheWholeModelMatchesFiniteDifferences() {
        GeneDemo demo = new GeneDemo(SMALL);
        List<GeneData.Sequence> data = GeneData.generate(2, SMALL.length(), SMALL.maxDuration(), 4);
        List<int[]> active = new ArrayList<>();
        for (GeneData.Sequence s : data) {
            active.add(demo.features.active(s.bases()));
        }
        List<Integer> members = List.of(0, 1);
        Random rng = new Random(8);
        try (Context context = Context.create(Device.CPU)) {
            double[] params = demo.pack();
            for (int i = 0; i < params.length; i++) {
                params[i] = 0.2 * rng.nextGaussian();
            }
            demo.unpack(params);
            double[] grad = new double[params.length];
            demo.step(context, data, active, members, grad);
            int f = demo.features.count(), c = GeneData.LABELS;
            int boundary = 2 * c * 6 * 4, tail = c * c + c + 2 * c;
            // Coordinates in every block: weights (bias and a window feature), boundary matrices,
            // transition, start, rho, pi.
            int base = c * f;
            int[] coordinates = {f - 1, f + 5, 2 * f + 9, base + 3, base + c * 24 + 7, base + boundary,
                base + boundary + c * c, base + boundary + c * c + c, params.length - 1};
            assertEquals(params.length, base + boundary + tail);
            for (int i : coordinates) {
                double eps = 1e-2, keep = params[i];
                params[i] = keep + eps;
                demo.unpack(params);
                double up = demo.step(context, data, active, members, new double[params.length]);
                params[i] = keep - eps;
                demo.unpack(params);
                double down = demo.step(context, data, active, members, new double[params.length]);
                params[i] = keep;
                demo.unpack(params);
                double fd = (up - down) / (2 * eps);
                assertTrue(Math.abs(fd - grad[i]) <= 0.05 * Math.abs(grad[i]) + 3e-4,
                        "parameter " + i + ": analytic " + grad[i] + ", finite difference " + fd);
            }
        }
    }

    @Test
    void trainingLowersTheLossRaisesAccuracyAndWritesThePictures() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), progress = new ByteArrayOutputStream();
        GeneDemo.Result r;
        try (Context context = Context.create(Device.CPU)) {
            r = new GeneDemo(SMALL).run(context, new PrintStream(out, true, StandardCharsets.UTF_8),
                    new PrintStream(progress, true, StandardCharsets.UTF_8), dir);
        }
        int last = SMALL.epochs() - 1;
        assertTrue(r.loss()[last] < 0.6 * r.loss()[0], "loss " + java.util.Arrays.toString(r.loss()));
        assertTrue(r.accuracy()[last] > r.accuracy()[0], "accuracy " + java.util.Arrays.toString(r.accuracy()));
        String text = out.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("epoch  6/6") && text.contains("per-bp accuracy"), text);
        assertTrue(progress.toString(StandardCharsets.UTF_8).contains("batches"));
        for (Path svg : List.of(r.segmentationSvg(), r.curvesSvg())) {
            String s = Files.readString(svg);
            assertTrue(s.startsWith("<svg") && s.trim().endsWith("</svg>") && s.contains("<rect"), svg.toString());
        }
        assertTrue(Files.readString(r.curvesSvg()).contains("<polyline"));
    }
}
