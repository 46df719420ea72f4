package org.semiringkernels.cli.eval;

import java.util.List;

/** An op described by its fields; each family's ops class implements run in an anonymous subclass. */
abstract class BaseOp implements EvalOp {
    private final String name;
    private final String summary;
    private final List<Port> inputs;
    private final List<Option> options;
    private final List<Port> outputs;

    BaseOp(String name, String summary, List<Port> inputs, List<Option> options, List<Port> outputs) {
        this.name = name;
        this.summary = summary;
        this.inputs = inputs;
        this.options = options;
        this.outputs = outputs;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String summary() {
        return summary;
    }

    @Override
    public List<Port> inputs() {
        return inputs;
    }

    @Override
    public List<Option> options() {
        return options;
    }

    @Override
    public List<Port> outputs() {
        return outputs;
    }
}
