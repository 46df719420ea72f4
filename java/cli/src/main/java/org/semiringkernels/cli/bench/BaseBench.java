package org.semiringkernels.cli.bench;

/** What every bench case has alike: its family, its throughput unit and its anchor. */
abstract class BaseBench implements BenchCase {

    private final String family;
    private final String workUnit;
    private final Anchor anchor;

    BaseBench(String family, String workUnit, Anchor anchor) {
        this.family = family;
        this.workUnit = workUnit;
        this.anchor = anchor;
    }

    @Override
    public final String family() {
        return family;
    }

    @Override
    public final String workUnit() {
        return workUnit;
    }

    @Override
    public final Anchor anchor() {
        return anchor;
    }
}
