// Contraction planning: label classification, operand-only labels reduced first, then a greedy
// pairwise order (opt_einsum's greedy rule: contract the pair whose result removes the most
// elements, size(result) - size(x) - size(y) smallest, preferring pairs that share a label so
// outer products come last). Reordering is valid in every commutative semiring, so one plan
// serves all of them. Also the derived einsums of the backward and the workspace estimates.
#include <algorithm>
#include <limits>

#include "core/error.h"
#include "einsum/einsum.h"

namespace sk::einsum {
namespace {

bool contains(const std::vector<int> &v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Element counts of a node: 0 as soon as one extent is 0 (checked before multiplying, so that the
// other extents, which may be huge for an empty node, are never multiplied).
bool any_empty(const std::vector<int> &labels, const std::vector<index_t> &extent) {
    for (int l : labels)
        if (extent[static_cast<std::size_t>(l)] == 0) return true;
    return false;
}

double size_of(const std::vector<int> &labels, const std::vector<index_t> &extent) {
    if (any_empty(labels, extent)) return 0;
    double s = 1;
    for (int l : labels) s *= static_cast<double>(extent[static_cast<std::size_t>(l)]);
    return s;
}

// Exact for every node of a compiled plan: compile() rejects nodes of more than kMaxNodeElements.
index_t count_of(const std::vector<int> &labels, const std::vector<index_t> &extent) {
    if (any_empty(labels, extent)) return 0;
    index_t s = 1;
    for (int l : labels) s *= extent[static_cast<std::size_t>(l)];
    return s;
}

std::vector<int> sorted(std::vector<int> v) {
    std::sort(v.begin(), v.end());
    return v;
}

// The planner's state: live nodes and the labels the output needs.
struct Planner {
    const Problem &problem;
    Plan plan;
    std::vector<int> live;

    explicit Planner(const Problem &p) : problem(p) {
        plan.problem = p;
        for (std::size_t i = 0; i < p.operands.size(); ++i) {
            plan.node_labels.push_back(p.operands[i]);
            live.push_back(static_cast<int>(i));
        }
    }

    // True when label l is needed outside the nodes in `except`: by the output or a live node.
    bool needed_elsewhere(int l, int except_a, int except_b) const {
        if (contains(problem.output, l)) return true;
        for (int node : live)
            if (node != except_a && node != except_b && contains(plan.node_labels[static_cast<std::size_t>(node)], l))
                return true;
        return false;
    }

    int add_node(std::vector<int> labels) {
        plan.node_labels.push_back(std::move(labels));
        return static_cast<int>(plan.node_labels.size()) - 1;
    }

    // The layout of a result: the output's order when it is the last node, else the groups.
    bool is_last(std::size_t consumed) const { return live.size() == consumed; }

    void reduce_own_labels(int node) {
        const auto &labels = plan.node_labels[static_cast<std::size_t>(node)];
        Step s;
        s.kind = StepKind::Reduce;
        s.x = node;
        std::vector<int> kept;
        for (int l : labels) (needed_elsewhere(l, node, -1) ? kept : s.k).push_back(l);
        if (s.k.empty()) return;
        s.k = sorted(s.k);
        s.result = add_node(live.size() == 1 ? problem.output : sorted(kept));
        plan.steps.push_back(s);
        std::replace(live.begin(), live.end(), node, s.result);
    }

    void contract(int a, int b) {
        const auto la = plan.node_labels[static_cast<std::size_t>(a)];
        const auto lb = plan.node_labels[static_cast<std::size_t>(b)];
        Step s;
        s.x = a;
        s.y = b;
        std::vector<int> all = la;
        for (int l : lb)
            if (!contains(all, l)) all.push_back(l);
        for (int l : sorted(all)) {
            const bool in_a = contains(la, l), in_b = contains(lb, l);
            const bool keep = needed_elsewhere(l, a, b);
            if (in_a && in_b) (keep ? s.batch : s.k).push_back(l);
            else if (in_a) s.m.push_back(l);  // (a label only in a is always kept, see below)
            else s.n.push_back(l);
        }
        // Operand-only labels were reduced up front, and every later node keeps the labels that
        // some other live node or the output needs, so m and n labels are all kept.
        s.kind = s.k.empty() ? StepKind::Combine : StepKind::Contract;
        live.erase(std::remove(live.begin(), live.end(), b), live.end());
        live.erase(std::remove(live.begin(), live.end(), a), live.end());
        const bool last = live.empty();
        if (last) {
            // Group orders follow the output so that the result can be written in place.
            auto by_output = [&](std::vector<int> &g) {
                std::vector<int> r;
                for (int l : problem.output)
                    if (contains(g, l)) r.push_back(l);
                g = r;
            };
            by_output(s.batch);
            by_output(s.m);
            by_output(s.n);
            s.result = add_node(problem.output);
        } else {
            std::vector<int> labels = s.batch;
            labels.insert(labels.end(), s.m.begin(), s.m.end());
            labels.insert(labels.end(), s.n.begin(), s.n.end());
            s.result = add_node(labels);
        }
        plan.steps.push_back(s);
        live.push_back(s.result);
    }

    std::vector<int> result_labels(int a, int b) const {
        std::vector<int> r;
        for (int node : {a, b})
            for (int l : plan.node_labels[static_cast<std::size_t>(node)])
                if (!contains(r, l) && needed_elsewhere(l, a, b)) r.push_back(l);
        return r;
    }

    void greedy() {
        while (live.size() > 1) {
            int best_a = -1, best_b = -1;
            double best_score = std::numeric_limits<double>::infinity();
            bool best_shares = false;
            for (std::size_t i = 0; i < live.size(); ++i)
                for (std::size_t j = i + 1; j < live.size(); ++j) {
                    const int a = live[i], b = live[j];
                    const auto &la = plan.node_labels[static_cast<std::size_t>(a)];
                    const auto &lb = plan.node_labels[static_cast<std::size_t>(b)];
                    bool shares = false;
                    for (int l : la) shares = shares || contains(lb, l);
                    const double score = size_of(result_labels(a, b), problem.extent) -
                                         size_of(la, problem.extent) - size_of(lb, problem.extent);
                    if ((shares && !best_shares) || (shares == best_shares && score < best_score)) {
                        best_a = a;
                        best_b = b;
                        best_score = score;
                        best_shares = shares;
                    }
                }
            contract(best_a, best_b);
        }
    }
};

index_t aligned(index_t bytes) { return (bytes + 255) / 256 * 256; }

// The largest element count a node (operand in label space, intermediate, output) of a plan may
// have: 2^50 (4 PiB of float32, far beyond any workspace). With it every size derived from node
// counts stays below 2^63 without further checks: count_of's products, the workspace sums
// (at most 4 terms of 8 * 2^50 bytes per step, 2 * 32 steps, argmax tables of at most 60 labels
// per output element). Larger plans could never run; they are rejected when compiled.
constexpr index_t kMaxNodeElements = index_t(1) << 50;

void require_bounded_nodes(const Plan &plan, const Equation &eq) {
    for (const auto &labels : plan.node_labels) {
        const double size = size_of(labels, plan.problem.extent);
        if (size > static_cast<double>(kMaxNodeElements))
            fail(SK_ERROR_SHAPE, "equation \"%s\": the extents give a tensor of %.3g elements in the "
                 "contraction (more than 2^50); no workspace can hold it", eq.text.c_str(), size);
    }
}

}  // namespace

Plan make_plan(const Problem &problem) {
    Planner planner(problem);
    for (std::size_t i = 0; i < problem.operands.size(); ++i) planner.reduce_own_labels(planner.live[i]);
    planner.greedy();
    const int last = planner.live.front();
    if (planner.plan.steps.empty() || planner.plan.steps.back().result != last) {
        // A single operand without summed labels: one Reduce step with nothing summed (a copy).
        Step s;
        s.kind = StepKind::Reduce;
        s.x = last;
        s.result = planner.add_node(problem.output);
        planner.plan.steps.push_back(s);
    }
    planner.plan.final_node = planner.plan.steps.back().result;
    return planner.plan;
}

bool is_broadcast(const Equation &eq, std::size_t operand, std::size_t d) {
    const auto l = static_cast<std::size_t>(eq.operand_dims[operand][d]);
    return eq.operand_shape[operand][d] == 1 && eq.extent[l] != 1;
}

Compiled compile(const std::string &text, const std::vector<std::vector<index_t>> &shapes,
                 Semiring semiring, int zero_gradient, index_t workspace_limit) {
    Compiled c;
    c.equation = parse(text, shapes);
    c.semiring = semiring;
    c.zero_gradient = zero_gradient;
    c.workspace_limit = workspace_limit;
    const Equation &eq = c.equation;
    Problem p;
    p.num_labels = eq.num_labels;
    p.extent = eq.extent;
    for (const auto &dims : eq.operand_dims) p.operands.push_back(unique_labels(dims));
    p.output = eq.output;
    c.plan = make_plan(p);
    require_bounded_nodes(c.plan, eq);
    if (!is_smooth(semiring)) return c;
    for (std::size_t i = 0; i < p.operands.size(); ++i) {
        Derived d;
        Problem dp;
        dp.num_labels = p.num_labels;
        dp.extent = p.extent;
        dp.operands.push_back(p.output);
        for (std::size_t j = 0; j < p.operands.size(); ++j)
            if (j != i) {
                dp.operands.push_back(p.operands[j]);
                d.others.push_back(static_cast<int>(j));
            }
        for (std::size_t k = 0; k < eq.operand_dims[i].size(); ++k) {
            const int l = eq.operand_dims[i][k];
            if (is_broadcast(eq, i, k) || contains(dp.output, l)) continue;
            bool present = false;
            for (const auto &labels : dp.operands) present = present || contains(labels, l);
            if (present) dp.output.push_back(l);
        }
        d.plan = make_plan(dp);
        require_bounded_nodes(d.plan, eq);
        c.derived.push_back(std::move(d));
    }
    return c;
}

index_t forward_workspace_bytes(const Plan &plan, const std::vector<index_t> &extent,
                                std::size_t elem, bool with_argmax) {
    const auto e = static_cast<index_t>(elem);
    index_t bytes = 0;
    const index_t out_count = count_of(plan.problem.output, extent);
    for (std::size_t s = 0; s < plan.steps.size(); ++s) {
        const Step &st = plan.steps[s];
        const bool last = s + 1 == plan.steps.size();
        const index_t result = count_of(plan.node_labels[static_cast<std::size_t>(st.result)], extent);
        if (!last || st.kind == StepKind::Contract) bytes += aligned(result * e);
        if (st.kind == StepKind::Contract) {
            bytes += aligned(count_of(plan.node_labels[static_cast<std::size_t>(st.x)], extent) * e);
            bytes += aligned(count_of(plan.node_labels[static_cast<std::size_t>(st.y)], extent) * e);
        }
        if (with_argmax && !st.k.empty()) bytes += aligned(result * 8);
    }
    if (with_argmax) bytes += aligned(out_count * plan.problem.num_labels * 8);
    return bytes;
}

bool is_single_contract(const Compiled &c) {
    const Plan &p = c.plan;
    return p.problem.operands.size() == 2 && p.steps.size() == 1 &&
           p.steps.front().kind == StepKind::Contract && p.steps.front().k == c.equation.summed;
}

namespace {

// The single-step backward (einsum_run.cpp): permuted copies of both operands, copies of out
// (LOG) and grad_out, a gradient buffer per operand, and the int32 argmax (MAX/MIN).
index_t single_step_backward_bytes(const Compiled &c, std::size_t elem) {
    const auto &extent = c.equation.extent;
    const auto e = static_cast<index_t>(elem);
    const index_t out_count = count_of(c.plan.problem.output, extent);
    index_t bytes = 2 * aligned(out_count * e) + aligned(out_count * 4);
    for (int node = 0; node < 2; ++node)
        bytes += 2 * aligned(count_of(c.plan.node_labels[static_cast<std::size_t>(node)], extent) * e);
    return bytes;
}

index_t generic_backward_bytes(const Compiled &c, std::size_t elem) {
    const auto &extent = c.equation.extent;
    const index_t out_count = count_of(c.plan.problem.output, extent);
    if (is_selection(c.semiring)) {
        // The forward is rerun with argmax when none is given: output, argmax and its workspace.
        return aligned(out_count * static_cast<index_t>(elem)) +
               aligned(out_count * static_cast<index_t>(c.equation.summed.size()) * 8) +
               forward_workspace_bytes(c.plan, extent, elem, true);
    }
    index_t most = 0;
    for (const Derived &d : c.derived) {
        const index_t result = aligned(count_of(d.plan.problem.output, extent) * static_cast<index_t>(elem));
        const index_t per = forward_workspace_bytes(d.plan, extent, elem, false) +
                            result * (c.semiring == Semiring::Log ? 2 : 1);
        most = std::max(most, per);
    }
    const index_t weights = c.semiring == Semiring::Log ? 2 * aligned(out_count * static_cast<index_t>(elem)) : 0;
    return weights + most;
}

}  // namespace

index_t backward_workspace_bytes(const Compiled &c, std::size_t elem) {
    const index_t generic = generic_backward_bytes(c, elem);
    // A single-step plan may take either path (the LOG fast path depends on the values).
    return is_single_contract(c) ? std::max(generic, single_step_backward_bytes(c, elem)) : generic;
}

}  // namespace sk::einsum
