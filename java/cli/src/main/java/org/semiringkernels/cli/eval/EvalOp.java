package org.semiringkernels.cli.eval;

import java.util.List;
import java.util.Map;

import org.semiringkernels.Context;
import org.semiringkernels.Tensor;

/**
 * One public operation of a family as {@code semiring-kernels eval} runs it: named tensor inputs
 * (read from .npy files and moved to the context's device), string options ({@code --set K=V}),
 * and named tensor outputs (written as NAME.npy).
 */
public interface EvalOp {

    /** The op's name on the command line, e.g. {@code hmm.factored.viterbi}. */
    String name();

    /** One line: what it computes. */
    String summary();

    List<Port> inputs();

    List<Option> options();

    List<Port> outputs();

    /**
     * Runs the op. {@code inputs} holds every required input and the optional ones given, on the
     * context's device; the returned tensors (new, owned by the caller) are the outputs, keyed
     * by the names in {@link #outputs()}; an output that does not apply to the given options
     * (an argmax for the LOG semiring) is absent.
     */
    Map<String, Tensor> run(Context context, Map<String, Tensor> inputs, Settings settings);

    /** A named tensor argument: expected shape (in words) and dtypes, whether it is required. */
    record Port(String name, String shape, String dtypes, boolean required, String doc) {
        public static Port required(String name, String shape, String dtypes, String doc) {
            return new Port(name, shape, dtypes, true, doc);
        }

        public static Port optional(String name, String shape, String dtypes, String doc) {
            return new Port(name, shape, dtypes, false, doc);
        }
    }

    /** A {@code --set} option with its default (shown by {@code eval --list}) and meaning. */
    record Option(String key, String defaultValue, String doc) {
    }
}
