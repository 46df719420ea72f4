// The executor shared by both backends: walks a plan, lays out intermediates in the context's
// workspace, maps each Contract step onto the batched semiring matmul (matmul::forward_cpu /
// forward_cuda, after a permuted copy of an operand whose label groups do not flatten into one
// stride each), runs the Reduce / Combine kernels, traces the argmax back, and builds the
// backward out of derived einsums (REAL, LOG) or the argmax routing (MAX, MIN). A plan of one
// Contract step takes the single-step fast paths instead: its argmax is the matmul's
// (forward_block) and its backward the matmul engine's (single_step_backward).
//
// Every run is first done "dry" (nothing launched, buffer sizes summed) so that one workspace
// lease of the exact size is taken before any kernel runs; the context's workspace limit turns
// a too large need into SK_ERROR_OUT_OF_MEMORY before any output is written. When the plan's own
// workspace_limit_bytes is exceeded, the output is split into blocks along an output label
// (see run_blocked).
#include <algorithm>
#include <array>
#include <limits>
#include <type_traits>

#include "core/context.h"
#include "core/error.h"
#include "einsum/einsum.h"
#include "matmul/matmul.h"

namespace sk::einsum {
namespace {

index_t aligned(index_t bytes) { return (bytes + 255) / 256 * 256; }

bool contains(const std::vector<int> &v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// 0 as soon as one extent is 0 (before multiplying the others, which may be huge); otherwise
// exact: compile() bounds every node of a plan by 2^50 elements.
index_t count_of(const std::vector<int> &labels, const std::vector<index_t> &extent) {
    for (int l : labels)
        if (extent[static_cast<std::size_t>(l)] == 0) return 0;
    index_t s = 1;
    for (int l : labels) s *= extent[static_cast<std::size_t>(l)];
    return s;
}

// ---- backend dispatch ---------------------------------------------------------------------------

#ifdef SK_HAVE_CUDA
#define SK_EINSUM_ON(ctx, cpu_call, cuda_call) \
    do {                                       \
        if ((ctx).is_cuda())                   \
            cuda_call;                         \
        else                                   \
            cpu_call;                          \
    } while (0)
#else
#define SK_EINSUM_ON(ctx, cpu_call, cuda_call) \
    do {                                       \
        if ((ctx).is_cuda())                   \
            fail(SK_ERROR_DEVICE, "this library was built without CUDA (SK_WITH_CUDA=OFF)"); \
        cpu_call;                              \
    } while (0)
#endif

// ---- walks ----------------------------------------------------------------------------------------

// A walk over `extent` (row-major) addressing up to three tensors; extent-1 dimensions are
// dropped and adjacent dimensions merged where every tensor's strides allow (the flat index is
// unchanged by both). `merge` false keeps every dimension (when dims are referenced by position).
Walk make_walk(const std::vector<index_t> &extent, const std::vector<std::array<index_t, 3>> &stride,
               bool merge = true) {
    Walk w;
    std::vector<index_t> e;
    std::vector<std::array<index_t, 3>> s;
    for (std::size_t d = 0; d < extent.size(); ++d) {
        w.count *= extent[d];
        if (merge && extent[d] == 1) continue;
        if (merge && !e.empty()) {
            bool ok = true;
            // Mergeable when the outer stride is the inner one times its extent; a product that
            // overflows (strides of an empty tensor are unbounded) is simply not a merge.
            for (int t = 0; t < 3; ++t) {
                index_t product = 0;
                ok = ok && !__builtin_mul_overflow(stride[d][static_cast<std::size_t>(t)], extent[d], &product) &&
                     s.back()[static_cast<std::size_t>(t)] == product;
            }
            if (ok) {
                e.back() *= extent[d];
                s.back() = stride[d];
                continue;
            }
        }
        e.push_back(extent[d]);
        s.push_back(stride[d]);
    }
    if (e.size() > static_cast<std::size_t>(kMaxDims))
        fail(SK_ERROR_UNSUPPORTED, "einsum: a tensor of the plan has %zu dimensions of extent > 1 "
             "that cannot be merged; at most %d are supported", e.size(), kMaxDims);
    w.rank = static_cast<int>(e.size());
    for (int d = 0; d < w.rank; ++d) {
        w.extent[d] = e[static_cast<std::size_t>(d)];
        for (int t = 0; t < 3; ++t) w.stride[t][d] = s[static_cast<std::size_t>(d)][static_cast<std::size_t>(t)];
    }
    return w;
}

// ---- nodes ------------------------------------------------------------------------------------------

// A tensor of the plan at run time: data and a stride per label id.
template <class T>
struct Node {
    T *data = nullptr;
    std::vector<index_t> stride;
};

// Contiguous strides of `labels` (row-major in the given order), indexed by label id.
std::vector<index_t> contiguous_strides(const std::vector<int> &labels, const std::vector<index_t> &extent,
                                        int num_labels) {
    std::vector<index_t> stride(static_cast<std::size_t>(num_labels), 0);
    index_t s = 1;
    for (auto it = labels.rbegin(); it != labels.rend(); ++it) {
        stride[static_cast<std::size_t>(*it)] = s;
        s *= extent[static_cast<std::size_t>(*it)];
    }
    return stride;
}

// The stride of a flattened label group, when the group's labels (in order) form one strided
// dimension; false otherwise. An empty group (extent 1) has stride 0.
bool group_stride(const std::vector<int> &group, const std::vector<index_t> &stride,
                  const std::vector<index_t> &extent, index_t *out) {
    std::vector<int> g;
    for (int l : group)
        if (extent[static_cast<std::size_t>(l)] != 1) g.push_back(l);
    *out = 0;
    if (g.empty()) return true;
    for (std::size_t t = 0; t + 1 < g.size(); ++t)
        if (stride[static_cast<std::size_t>(g[t])] !=
            stride[static_cast<std::size_t>(g[t + 1])] * extent[static_cast<std::size_t>(g[t + 1])])
            return false;
    *out = stride[static_cast<std::size_t>(g.back())];
    return true;
}

// What the argmax trace needs of one summing step.
struct TraceRecord {
    const void *argmax = nullptr;
    bool int32 = false;
    std::vector<int> result_labels;  // order of the argmax buffer (contiguous)
    std::vector<int> summed;         // flattened in this order
};

// ---- the runner -------------------------------------------------------------------------------------

template <class T>
struct Runner {
    sk_context &ctx;
    Semiring semiring;
    const Plan &plan;
    std::vector<index_t> extent;
    bool dry = true;
    index_t bytes = 0;
    char *base = nullptr;
    // Single-step forward with argmax (see forward_block): the caller's argmax tensor as the
    // matmul's (batch, m, n) int32 argmax, when it takes that view; data null otherwise.
    View3<std::int32_t> direct_argmax{};

    template <class U>
    U *take(index_t count) {
        U *p = dry ? nullptr : reinterpret_cast<U *>(base + bytes);
        bytes += aligned(count * static_cast<index_t>(sizeof(U)));
        return p;
    }

    int num_labels() const { return plan.problem.num_labels; }
    const std::vector<int> &labels_of(int node) const { return plan.node_labels[static_cast<std::size_t>(node)]; }

    void reduce(const std::vector<int> &result_labels, const Node<T> &out, const Node<T> &in,
                const std::vector<int> &summed, std::int64_t *argmax) {
        ReduceParams p;
        std::vector<index_t> e;
        std::vector<std::array<index_t, 3>> s;
        for (int l : result_labels) {
            e.push_back(extent[static_cast<std::size_t>(l)]);
            s.push_back({out.stride[static_cast<std::size_t>(l)], in.stride[static_cast<std::size_t>(l)], 0});
        }
        p.outer = make_walk(e, s);
        e.clear();
        s.clear();
        for (int l : summed) {
            e.push_back(extent[static_cast<std::size_t>(l)]);
            s.push_back({in.stride[static_cast<std::size_t>(l)], 0, 0});
        }
        p.inner = make_walk(e, s);
        p.want_argmax = argmax != nullptr;
        if (dry || p.outer.count == 0) return;
        SK_EINSUM_ON(ctx, reduce_cpu<T>(ctx, semiring, p, in.data, out.data, argmax),
                     reduce_cuda<T>(ctx, semiring, p, in.data, out.data, argmax));
    }

    void combine(const std::vector<int> &result_labels, const Node<T> &out, const Node<T> &x,
                 const Node<T> &y) {
        CombineParams p;
        std::vector<index_t> e;
        std::vector<std::array<index_t, 3>> s;
        for (int l : result_labels) {
            const auto u = static_cast<std::size_t>(l);
            e.push_back(extent[u]);
            s.push_back({out.stride[u], x.stride[u], y.stride[u]});
        }
        p.walk = make_walk(e, s);
        if (dry || p.walk.count == 0) return;
        SK_EINSUM_ON(ctx, combine_cpu<T>(ctx, semiring, p, x.data, y.data, out.data),
                     combine_cuda<T>(ctx, semiring, p, x.data, y.data, out.data));
    }

    // A node whose `groups` (in order) flatten into one stride each: the node itself, or a
    // contiguous copy laid out group after group.
    Node<T> flattenable(const Node<T> &node, const std::vector<const std::vector<int> *> &groups) {
        bool ok = true;
        for (const auto *g : groups) {
            index_t unused;
            ok = ok && group_stride(*g, node.stride, extent, &unused);
        }
        if (ok) return node;
        std::vector<int> order;
        for (const auto *g : groups) order.insert(order.end(), g->begin(), g->end());
        Node<T> copy;
        copy.stride = contiguous_strides(order, extent, num_labels());
        copy.data = take<T>(count_of(order, extent));
        // A copy: a Reduce over nothing (exact in every semiring but BOOLEAN, where it is truth()).
        reduce(order, copy, node, {}, nullptr);
        return copy;
    }

    View3<T> view3(const Node<T> &node, const std::vector<int> &g0, const std::vector<int> &g1,
                   const std::vector<int> &g2) const {
        View3<T> v;
        v.data = node.data;
        group_stride(g0, node.stride, extent, &v.stride_b);
        group_stride(g1, node.stride, extent, &v.stride_i);
        group_stride(g2, node.stride, extent, &v.stride_j);
        return v;
    }

    // `argmax`: where the matmul writes its int32 argmax (want_argmax; data may be null in the dry
    // pass).
    void contract(const Step &st, const Node<T> &x_in, const Node<T> &y_in, const Node<T> &out,
                  bool last, View3<std::int32_t> argmax, bool want_argmax) {
        const Node<T> x = flattenable(x_in, {&st.batch, &st.m, &st.k});
        const Node<T> y = flattenable(y_in, {&st.batch, &st.k, &st.n});
        std::vector<int> order = st.batch;
        order.insert(order.end(), st.m.begin(), st.m.end());
        order.insert(order.end(), st.n.begin(), st.n.end());
        Node<T> z = out;
        bool copy_out = false;
        if (last) {
            index_t unused;
            copy_out = !(group_stride(st.batch, out.stride, extent, &unused) &&
                         group_stride(st.m, out.stride, extent, &unused) &&
                         group_stride(st.n, out.stride, extent, &unused));
            if (copy_out) {
                z.stride = contiguous_strides(order, extent, num_labels());
                z.data = take<T>(count_of(order, extent));
            }
        }
        matmul::Shape shape;
        shape.batch = count_of(st.batch, extent);
        shape.m = count_of(st.m, extent);
        shape.n = count_of(st.n, extent);
        shape.k = count_of(st.k, extent);
        if (want_argmax && shape.k > std::numeric_limits<std::int32_t>::max())
            fail(SK_ERROR_UNSUPPORTED, "einsum: %lld summed combinations in one step exceed the "
                 "int32 argmax of the matmul engine", static_cast<long long>(shape.k));
        if (!dry && shape.batch * shape.m * shape.n > 0) {
            matmul::ForwardArgs<T> args{shape, semiring, view3(x, st.batch, st.m, st.k).as_const(),
                                        view3(y, st.batch, st.k, st.n).as_const(),
                                        view3(z, st.batch, st.m, st.n), {}};
            if (want_argmax) args.argmax = argmax;
            SK_EINSUM_ON(ctx, matmul::forward_cpu<T>(ctx, args), matmul::forward_cuda<T>(ctx, args));
        }
        if (copy_out) reduce(plan.problem.output, out, z, {}, nullptr);
    }

    // Runs the plan on `inputs` (one node per operand) into `output` (strides per output label).
    // With `trace`, every summing step records its argmax.
    void run(const std::vector<Node<T>> &inputs, const Node<T> &output, std::vector<TraceRecord> *trace) {
        std::vector<Node<T>> nodes(plan.node_labels.size());
        for (std::size_t i = 0; i < inputs.size(); ++i) nodes[i] = inputs[i];
        for (std::size_t s = 0; s < plan.steps.size(); ++s) {
            const Step &st = plan.steps[s];
            const bool last = s + 1 == plan.steps.size();
            const auto &labels = labels_of(st.result);
            Node<T> &result = nodes[static_cast<std::size_t>(st.result)];
            if (last) {
                result = output;
            } else {
                result.stride = contiguous_strides(labels, extent, num_labels());
                result.data = take<T>(count_of(labels, extent));
            }
            const Node<T> &x = nodes[static_cast<std::size_t>(st.x)];
            const bool summing = !st.k.empty();
            TraceRecord record;
            record.summed = st.k;
            switch (st.kind) {
                case StepKind::Reduce: {
                    std::int64_t *am = (trace && summing) ? take<std::int64_t>(count_of(labels, extent)) : nullptr;
                    reduce(labels, result, x, st.k, am);
                    record.argmax = am;
                    record.result_labels = labels;
                    break;
                }
                case StepKind::Combine:
                    combine(labels, result, x, nodes[static_cast<std::size_t>(st.y)]);
                    break;
                case StepKind::Contract: {
                    std::vector<int> order = st.batch;
                    order.insert(order.end(), st.m.begin(), st.m.end());
                    order.insert(order.end(), st.n.begin(), st.n.end());
                    View3<std::int32_t> am{};
                    if (trace && last && direct_argmax.data) {
                        am = direct_argmax;  // the caller's argmax tensor (single-step fast path)
                    } else if (trace) {      // contiguous over (batch, m, n)
                        am.data = take<std::int32_t>(count_of(order, extent));
                        am.stride_i = count_of(st.n, extent);
                        am.stride_b = count_of(st.m, extent) * am.stride_i;
                        am.stride_j = 1;
                    }
                    contract(st, x, nodes[static_cast<std::size_t>(st.y)], result, last, am, trace != nullptr);
                    record.argmax = am.data;
                    record.int32 = true;
                    record.result_labels = order;
                    break;
                }
            }
            if (trace && summing) trace->push_back(record);
        }
    }

    // Traces the argmax of every output element back through the recorded steps and writes the
    // (output..., S) argmax tensor. `out` is the forward's output (read for the zero test).
    template <class I>
    void trace_back(const std::vector<TraceRecord> &records, const Node<T> &out,
                    const std::vector<index_t> &out_shape, const std::vector<index_t> &argmax_stride,
                    const std::vector<int> &summed, I *argmax_data) {
        const auto &output = plan.problem.output;
        const index_t count = count_of(output, extent);
        std::int64_t *assign = take<std::int64_t>(count * num_labels());
        if (dry || count == 0) return;
        // S = 0: the argmax tensor is empty, nothing to write; its strides may be anything (an
        // empty tensor's are not bounded), so no offset is computed from them.
        if (summed.empty()) return;
        TraceInitParams init;
        {
            std::vector<index_t> e;
            std::vector<std::array<index_t, 3>> s;
            for (int l : output) {
                e.push_back(extent[static_cast<std::size_t>(l)]);
                s.push_back({0, 0, 0});
            }
            init.out = make_walk(e, s, false);
            for (std::size_t d = 0; d < output.size(); ++d) init.label[d] = output[d];
            init.num_labels = num_labels();
        }
        SK_EINSUM_ON(ctx, trace_init_cpu(ctx, init, assign), trace_init_cuda(ctx, init, assign));
        for (auto it = records.rbegin(); it != records.rend(); ++it) {
            TraceStepParams p;
            p.num_labels = num_labels();
            p.argmax_is_int32 = it->int32;
            const auto strides = contiguous_strides(it->result_labels, extent, num_labels());
            p.result_rank = static_cast<int>(it->result_labels.size());
            for (int d = 0; d < p.result_rank; ++d) {
                p.result_label[d] = it->result_labels[static_cast<std::size_t>(d)];
                p.result_stride[d] = strides[static_cast<std::size_t>(p.result_label[d])];
            }
            p.summed_rank = static_cast<int>(it->summed.size());
            for (int d = 0; d < p.summed_rank; ++d) {
                p.summed_label[d] = it->summed[static_cast<std::size_t>(d)];
                p.summed_extent[d] = extent[static_cast<std::size_t>(p.summed_label[d])];
            }
            SK_EINSUM_ON(ctx, trace_step_cpu(ctx, p, count, it->argmax, assign),
                         trace_step_cuda(ctx, p, count, it->argmax, assign));
        }
        TraceWriteParams w;
        {
            std::vector<index_t> e;
            std::vector<std::array<index_t, 3>> s;
            for (std::size_t d = 0; d < output.size(); ++d) {
                e.push_back(out_shape[d]);
                s.push_back({argmax_stride[d], out.stride[static_cast<std::size_t>(output[d])], 0});
            }
            w.out = make_walk(e, s, false);
        }
        w.num_labels = num_labels();
        w.num_summed = static_cast<int>(summed.size());
        for (std::size_t s = 0; s < summed.size(); ++s) w.summed_label[s] = summed[s];
        w.summed_stride = argmax_stride.back();
        SK_EINSUM_ON(ctx, (trace_write_cpu<T, I>(ctx, semiring, w, assign, out.data, argmax_data)),
                     (trace_write_cuda<T, I>(ctx, semiring, w, assign, out.data, argmax_data)));
    }

    // Single-step plans: the matmul's int32 argmax (contiguous over the step's (batch, m, n)
    // order) is the output's argmax; decode it into the (output..., S) tensor, no trace.
    template <class I>
    void decode_single_step_argmax(const Step &st, const TraceRecord &record, const Node<T> &out,
                                   const std::vector<index_t> &out_shape,
                                   const std::vector<index_t> &argmax_stride, const std::vector<int> &summed,
                                   I *argmax_data) {
        const auto &output = plan.problem.output;
        if (dry || count_of(output, extent) == 0) return;
        std::vector<int> order = st.batch;
        order.insert(order.end(), st.m.begin(), st.m.end());
        order.insert(order.end(), st.n.begin(), st.n.end());
        const auto flat_stride = contiguous_strides(order, extent, num_labels());
        ArgmaxDecodeParams p;
        std::vector<index_t> e;
        std::vector<std::array<index_t, 3>> s;
        for (std::size_t d = 0; d < output.size(); ++d) {
            const auto l = static_cast<std::size_t>(output[d]);
            e.push_back(out_shape[d]);
            s.push_back({argmax_stride[d], out.stride[l], flat_stride[l]});
        }
        p.out = make_walk(e, s);
        p.num_summed = static_cast<int>(summed.size());
        for (std::size_t k = 0; k < summed.size(); ++k) p.summed_extent[k] = extent[static_cast<std::size_t>(summed[k])];
        p.summed_stride = argmax_stride.back();
        const auto *flat = static_cast<const std::int32_t *>(record.argmax);
        SK_EINSUM_ON(ctx, (argmax_decode_cpu<T, I>(ctx, semiring, p, flat, out.data, argmax_data)),
                     (argmax_decode_cuda<T, I>(ctx, semiring, p, flat, out.data, argmax_data)));
    }
};

// The operand as a node: a stride per label, summed over a diagonal's dimensions, 0 along a
// broadcast dimension. A dimension of extent 0 or 1 is only ever indexed at 0: its stride
// (which may be anything, up to 2^63 - 1, and would overflow the diagonal's sum) is left out.
// An empty operand (an extent 0) is never read, and the descriptor check leaves its strides
// unbounded: all its strides are left out, so that no offset into it can overflow.
template <class T>
Node<T> operand_node(const Equation &eq, std::size_t i, const TensorRef &t) {
    Node<T> n;
    n.data = static_cast<T *>(t.data);
    n.stride.assign(static_cast<std::size_t>(eq.num_labels), 0);
    for (std::size_t d = 0; d < eq.operand_dims[i].size(); ++d)
        if (t.shape[d] == 0) return n;
    for (std::size_t d = 0; d < eq.operand_dims[i].size(); ++d)
        if (!is_broadcast(eq, i, d) && t.shape[d] > 1)
            n.stride[static_cast<std::size_t>(eq.operand_dims[i][d])] += t.stride[d];
    return n;
}

template <class T>
Node<T> output_node(const std::vector<int> &output, int num_labels, const TensorRef &t) {
    Node<T> n;
    n.data = static_cast<T *>(t.data);
    n.stride.assign(static_cast<std::size_t>(num_labels), 0);
    for (std::size_t d = 0; d < output.size(); ++d) n.stride[static_cast<std::size_t>(output[d])] = t.stride[d];
    return n;
}

// Runs a plan (with an optional argmax trace) in two passes: dry to size the workspace, then
// for real under one lease. `body(runner)` issues the work.
template <class T, class Body>
void with_runner(sk_context &ctx, Semiring semiring, const Plan &plan, const std::vector<index_t> &extent,
                 index_t own_limit, Body &&body) {
    Runner<T> r{ctx, semiring, plan, extent};
    body(r);
    if (own_limit > 0 && r.bytes > own_limit)
        fail(SK_ERROR_OUT_OF_MEMORY, "einsum: the plan needs %lld bytes of workspace, more than "
             "options.workspace_limit_bytes = %lld", static_cast<long long>(r.bytes),
             static_cast<long long>(own_limit));
    auto lease = ctx.workspace().acquire(static_cast<std::size_t>(std::max<index_t>(r.bytes, 1)), "einsum intermediates");
    r.dry = false;
    r.bytes = 0;
    r.base = lease.template as<char>();
    body(r);
}

// ---- blocking ---------------------------------------------------------------------------------------

// The forward of one block: the operands, output and argmax restricted to [begin, end) along
// output label `label` (all when label < 0).
template <class T>
void forward_block(sk_context &ctx, const Compiled &c, const std::vector<TensorRef> &operands,
                   const TensorRef &out, const TensorRef *argmax, bool argmax_int64, int label,
                   index_t begin, index_t end, index_t own_limit) {
    const Equation &eq = c.equation;
    std::vector<index_t> extent = eq.extent;
    std::vector<Node<T>> inputs;
    for (std::size_t i = 0; i < operands.size(); ++i) {
        Node<T> n = operand_node<T>(eq, i, operands[i]);
        if (label >= 0) n.data += begin * n.stride[static_cast<std::size_t>(label)];
        inputs.push_back(n);
    }
    Node<T> output = output_node<T>(eq.output, eq.num_labels, out);
    std::vector<index_t> out_shape(out.shape, out.shape + out.rank);
    std::vector<index_t> am_stride;
    std::size_t am_offset = 0;
    if (argmax) am_stride.assign(argmax->stride, argmax->stride + argmax->rank);
    if (label >= 0) {
        const auto u = static_cast<std::size_t>(label);
        extent[u] = end - begin;
        output.data += begin * output.stride[u];
        for (std::size_t d = 0; d < eq.output.size(); ++d)
            if (eq.output[d] == label) {
                out_shape[d] = end - begin;
                // With nothing summed the argmax is empty (its data may be NULL): no offset.
                if (argmax && !eq.summed.empty()) am_offset = static_cast<std::size_t>(begin * argmax->stride[d]);
            }
    }
    // Single-step plans (Viterbi fast path): the matmul's argmax is the output's. With S = 1 and
    // an int32 argmax whose strides give a (batch, m, n) view the matmul writes it in place (it
    // writes -1 where the output is the semiring zero, as the trace does); otherwise one decode
    // kernel converts it. No trace either way.
    const bool single = argmax && is_single_contract(c);
    View3<std::int32_t> direct{};
    if (single && !argmax_int64 && eq.summed.size() == 1) {
        const Step &st = c.plan.steps.front();
        std::vector<index_t> label_stride(static_cast<std::size_t>(eq.num_labels), 0);
        for (std::size_t d = 0; d < eq.output.size(); ++d)
            label_stride[static_cast<std::size_t>(eq.output[d])] = argmax->stride[d];
        if (group_stride(st.batch, label_stride, extent, &direct.stride_b) &&
            group_stride(st.m, label_stride, extent, &direct.stride_i) &&
            group_stride(st.n, label_stride, extent, &direct.stride_j))
            direct.data = static_cast<std::int32_t *>(argmax->data) + am_offset;
    }
    with_runner<T>(ctx, c.semiring, c.plan, extent, own_limit, [&](Runner<T> &r) {
        std::vector<TraceRecord> records;
        r.direct_argmax = direct;
        r.run(inputs, output, argmax ? &records : nullptr);
        if (!argmax) return;
        if (single) {
            if (direct.data) return;
            if (argmax_int64)
                r.decode_single_step_argmax(c.plan.steps.front(), records.front(), output, out_shape, am_stride,
                                            eq.summed, static_cast<std::int64_t *>(argmax->data) + am_offset);
            else
                r.decode_single_step_argmax(c.plan.steps.front(), records.front(), output, out_shape, am_stride,
                                            eq.summed, static_cast<std::int32_t *>(argmax->data) + am_offset);
            return;
        }
        if (argmax_int64)
            r.trace_back(records, output, out_shape, am_stride, eq.summed,
                         static_cast<std::int64_t *>(argmax->data) + am_offset);
        else
            r.trace_back(records, output, out_shape, am_stride, eq.summed,
                         static_cast<std::int32_t *>(argmax->data) + am_offset);
    });
}

// Workspace of one block of `len` along `label`.
template <class T>
index_t block_bytes(const Compiled &c, int label, index_t len, bool with_argmax, sk_context &ctx) {
    std::vector<index_t> extent = c.equation.extent;
    if (label >= 0) extent[static_cast<std::size_t>(label)] = len;
    (void)ctx;
    return forward_workspace_bytes(c.plan, extent, sizeof(T), with_argmax);
}

}  // namespace

template <class T>
void forward(sk_context &ctx, const Compiled &c, const std::vector<TensorRef> &operands,
             const TensorRef &out, const TensorRef *argmax, bool argmax_int64) {
    const Equation &eq = c.equation;
    if (count_of(eq.output, eq.extent) == 0) return;  // empty output: nothing to compute
    const index_t limit = c.workspace_limit;
    if (limit <= 0 || forward_workspace_bytes(c.plan, eq.extent, sizeof(T), argmax != nullptr) <= limit)
        return forward_block<T>(ctx, c, operands, out, argmax, argmax_int64, -1, 0, 0, limit);
    // Blocks along the output label (largest extent first) whose block of the largest length
    // that fits the limit (by the upper-bound estimate) is longest.
    std::vector<int> labels = eq.output;
    std::stable_sort(labels.begin(), labels.end(), [&](int a, int b) {
        return eq.extent[static_cast<std::size_t>(a)] > eq.extent[static_cast<std::size_t>(b)];
    });
    for (int l : labels) {
        const index_t full = eq.extent[static_cast<std::size_t>(l)];
        index_t lo = 0, hi = full;  // largest len in [1, full] with bytes(len) <= limit
        while (lo < hi) {
            const index_t mid = lo + (hi - lo + 1) / 2;
            if (block_bytes<T>(c, l, mid, argmax != nullptr, ctx) <= limit) lo = mid;
            else hi = mid - 1;
        }
        if (lo == 0) continue;
        for (index_t b = 0; b < full; b += lo)
            forward_block<T>(ctx, c, operands, out, argmax, argmax_int64, l, b, std::min(full, b + lo), 0);
        return;
    }
    fail(SK_ERROR_OUT_OF_MEMORY, "einsum: even one slice along any output label needs more than "
         "options.workspace_limit_bytes = %lld bytes of workspace (the whole problem needs %lld)",
         static_cast<long long>(limit),
         static_cast<long long>(forward_workspace_bytes(c.plan, eq.extent, sizeof(T), argmax != nullptr)));
}

namespace {

// dims of operand i: per dimension the first non-broadcast dimension with the same label (itself
// for broadcast dimensions and first occurrences).
std::vector<int> diagonal_of(const Equation &eq, std::size_t i) {
    const auto &dims = eq.operand_dims[i];
    std::vector<int> diag(dims.size());
    for (std::size_t d = 0; d < dims.size(); ++d) {
        diag[d] = static_cast<int>(d);
        if (is_broadcast(eq, i, d)) continue;
        for (std::size_t e = 0; e < d; ++e)
            if (dims[e] == dims[d] && !is_broadcast(eq, i, e)) {
                diag[d] = static_cast<int>(e);
                break;
            }
    }
    return diag;
}

// The first non-broadcast dimension of operand i with label l, or -1.
int dim_of(const Equation &eq, std::size_t i, int l) {
    for (std::size_t d = 0; d < eq.operand_dims[i].size(); ++d)
        if (eq.operand_dims[i][d] == l && !is_broadcast(eq, i, d)) return static_cast<int>(d);
    return -1;
}

template <class T, class I>
void route_gradients(sk_context &ctx, const Compiled &c, const TensorRef &grad_out, const I *argmax,
                     const std::vector<index_t> &argmax_stride, const std::vector<const TensorRef *> &grads) {
    const Equation &eq = c.equation;
    // S = 0: the argmax (output shape + [0]) is empty and never read; an empty tensor's strides
    // are not bounded by validation, so no offset is formed from them.
    const std::vector<index_t> am_stride =
        eq.summed.empty() ? std::vector<index_t>(argmax_stride.size(), 0) : argmax_stride;
    for (std::size_t i = 0; i < grads.size(); ++i) {
        const TensorRef *g = grads[i];
        if (!g) continue;
        RouteParams p;
        std::vector<index_t> e;
        std::vector<std::array<index_t, 3>> s;
        index_t count = 1;
        for (int d = 0; d < g->rank; ++d) {
            e.push_back(g->shape[d]);
            s.push_back({g->stride[d], 0, 0});
            count *= g->shape[d];
        }
        if (count == 0) continue;
        p.dims = make_walk(e, s, false);
        const auto diag = diagonal_of(eq, i);
        for (std::size_t d = 0; d < diag.size(); ++d) p.diag_of[d] = diag[d];
        e.clear();
        s.clear();
        for (std::size_t t = 0; t < eq.output.size(); ++t) {
            const int d = dim_of(eq, i, eq.output[t]);
            if (d >= 0) {
                p.pinned_dim[p.pinned] = d;
                p.pinned_g_stride[p.pinned] = grad_out.stride[t];
                p.pinned_a_stride[p.pinned] = am_stride[t];
                ++p.pinned;
            } else {
                e.push_back(eq.extent[static_cast<std::size_t>(eq.output[t])]);
                s.push_back({grad_out.stride[t], am_stride[t], 0});
            }
        }
        p.free = make_walk(e, s);
        p.has_summed = !eq.summed.empty();
        for (std::size_t k = 0; k < eq.summed.size(); ++k) {
            const int d = dim_of(eq, i, eq.summed[k]);
            if (d < 0) continue;
            p.check_dim[p.checks] = d;
            p.check_s_offset[p.checks] = static_cast<index_t>(k) * am_stride.back();
            ++p.checks;
        }
        T *grad = static_cast<T *>(g->data);
        const T *go = static_cast<const T *>(grad_out.data);
        SK_EINSUM_ON(ctx, (route_cpu<T, I>(ctx, p, go, argmax, grad)), (route_cuda<T, I>(ctx, p, go, argmax, grad)));
    }
}

template <class I>
void check_argmax(sk_context &ctx, const Equation &eq, const TensorRef &argmax) {
    std::vector<index_t> e;
    std::vector<std::array<index_t, 3>> s;
    for (int d = 0; d + 1 < argmax.rank; ++d) {
        e.push_back(argmax.shape[d]);
        s.push_back({argmax.stride[d], 0, 0});
    }
    const Walk w = make_walk(e, s);
    std::vector<index_t> extent;
    for (int l : eq.summed) extent.push_back(eq.extent[static_cast<std::size_t>(l)]);
    if (w.count == 0 || extent.empty()) return;
    const I *data = static_cast<const I *>(argmax.data);
    const index_t stride = argmax.stride[argmax.rank - 1];
    const int n = static_cast<int>(extent.size());
    index_t bad = 0;
    SK_EINSUM_ON(ctx, (bad = count_bad_argmax_cpu<I>(ctx, w, data, n, stride, extent.data())),
                 (bad = count_bad_argmax_cuda<I>(ctx, w, data, n, stride, extent.data())));
    if (bad > 0)
        fail(SK_ERROR_INVALID_ARGUMENT, "argument 'argmax': %lld entries lie outside [-1, extent of "
             "their summed variable)", static_cast<long long>(bad));
}

// Writes a gradient computed over operand i's unique labels (`plus`: data and a stride per label,
// 0 for labels it lacks, e.g. summed broadcast labels) onto the dimensions of the caller's
// gradient tensor `g` (0 off a diagonal). REAL: g = plus; LOG: g = exp(X + plus) - exp(X + minus)
// with minus strided like plus and X = operand i.
template <class T>
void scatter_gradient(sk_context &ctx, const Equation &eq, std::size_t i, const TensorRef &g,
                      const TensorRef &operand, const Node<T> &plus, const T *minus, bool log) {
    ScatterParams p;
    p.log = log;
    const auto diag = diagonal_of(eq, i);
    std::vector<index_t> e;
    std::vector<std::array<index_t, 3>> s;
    for (int d = 0; d < g.rank; ++d) {
        const int l = eq.operand_dims[i][static_cast<std::size_t>(d)];
        const bool first = diag[static_cast<std::size_t>(d)] == d && !is_broadcast(eq, i, static_cast<std::size_t>(d));
        e.push_back(g.shape[d]);
        s.push_back({g.stride[d], log ? operand.stride[d] : 0,
                     first ? plus.stride[static_cast<std::size_t>(l)] : 0});
        p.diag_of[d] = diag[static_cast<std::size_t>(d)];
    }
    p.dims = make_walk(e, s, false);
    const T *xd = static_cast<const T *>(operand.data);
    T *gd = static_cast<T *>(g.data);
    SK_EINSUM_ON(ctx, scatter_cpu<T>(ctx, p, xd, plus.data, minus, gd),
                 scatter_cuda<T>(ctx, p, xd, plus.data, minus, gd));
}

// REAL and LOG: derived einsums, then the scatter onto each operand's dimensions.
template <class T>
void smooth_gradients(sk_context &ctx, const Compiled &c, const std::vector<TensorRef> &operands,
                      const TensorRef *out, const TensorRef &grad_out,
                      const std::vector<const TensorRef *> &grads) {
    const Equation &eq = c.equation;
    const bool log = c.semiring == Semiring::Log;
    const auto &output = eq.output;
    const index_t out_count = count_of(output, eq.extent);
    auto &ws = ctx.workspace();
    // W± over the output, contiguous (LOG only).
    Workspace::Lease weights;
    Node<T> w_plus, w_minus, g_node = output_node<T>(output, eq.num_labels, grad_out);
    bool dead_weights[2] = {false, false};  // W+ / W- all -inf: their derived einsums are -inf
    if (log) {
        const index_t n = std::max<index_t>(out_count, 1);
        weights = ws.acquire(static_cast<std::size_t>(2 * aligned(n * static_cast<index_t>(sizeof(T)))), "einsum log-gradient weights");
        w_plus.data = weights.as<T>();
        w_minus.data = w_plus.data + aligned(n * static_cast<index_t>(sizeof(T))) / static_cast<index_t>(sizeof(T));
        w_plus.stride = w_minus.stride = contiguous_strides(output, eq.extent, eq.num_labels);
        if (out_count > 0) {
            std::vector<index_t> e;
            std::vector<std::array<index_t, 3>> s;
            for (std::size_t d = 0; d < output.size(); ++d) {
                e.push_back(eq.extent[static_cast<std::size_t>(output[d])]);
                s.push_back({w_plus.stride[static_cast<std::size_t>(output[d])], grad_out.stride[d], out->stride[d]});
            }
            const Walk walk = make_walk(e, s);
            const bool nan = c.zero_gradient == SK_EINSUM_ZERO_GRADIENT_NAN;
            const T *gd = static_cast<const T *>(grad_out.data);
            const T *od = static_cast<const T *>(out->data);
            SK_EINSUM_ON(ctx, log_weights_cpu<T>(ctx, walk, gd, od, nan, w_plus.data, w_minus.data),
                         log_weights_cuda<T>(ctx, walk, gd, od, nan, w_plus.data, w_minus.data));
            index_t live[2] = {1, 1};
            SK_EINSUM_ON(ctx, count_live_weights_cpu<T>(ctx, out_count, w_plus.data, w_minus.data, live),
                         count_live_weights_cuda<T>(ctx, out_count, w_plus.data, w_minus.data, live));
            dead_weights[0] = live[0] == 0;
            dead_weights[1] = live[1] == 0;
        }
    }
    for (std::size_t i = 0; i < grads.size(); ++i) {
        const TensorRef *g = grads[i];
        if (!g) continue;
        index_t count = 1;
        for (int d = 0; d < g->rank; ++d) count *= g->shape[d];
        if (count == 0) continue;
        const Derived &der = c.derived[i];
        const auto &dout = der.plan.problem.output;
        const index_t dcount = std::max<index_t>(count_of(dout, eq.extent), 1);
        const index_t slot = aligned(dcount * static_cast<index_t>(sizeof(T)));
        auto results = ws.acquire(static_cast<std::size_t>(slot * (log ? 2 : 1)), "einsum gradient partial sums");
        Node<T> res_plus, res_minus;
        res_plus.data = results.as<T>();
        res_minus.data = log ? res_plus.data + slot / static_cast<index_t>(sizeof(T)) : res_plus.data;
        res_plus.stride = res_minus.stride = contiguous_strides(dout, eq.extent, eq.num_labels);
        std::vector<Node<T>> inputs(1 + der.others.size());
        for (std::size_t j = 0; j < der.others.size(); ++j)
            inputs[j + 1] = operand_node<T>(eq, static_cast<std::size_t>(der.others[j]),
                                            operands[static_cast<std::size_t>(der.others[j])]);
        const int passes = log ? 2 : 1;
        for (int pass = 0; pass < passes; ++pass) {
            const Node<T> &res = pass == 0 ? res_plus : res_minus;
            if (log && dead_weights[pass]) {  // see is_live_weight: the einsum would give -inf
                const View3<T> all{res.data, 0, 0, 1};
                const T ninf = -positive_infinity<T>();
                SK_EINSUM_ON(ctx, matmul::fill_cpu<T>(ctx, all, 1, 1, dcount, ninf),
                             matmul::fill_cuda<T>(ctx, all, 1, 1, dcount, ninf));
                continue;
            }
            inputs[0] = log ? (pass == 0 ? w_plus : w_minus) : g_node;
            with_runner<T>(ctx, c.semiring, der.plan, eq.extent, 0,
                           [&](Runner<T> &r) { r.run(inputs, res, nullptr); });
        }
        scatter_gradient<T>(ctx, eq, i, *g, operands[i], res_plus, res_minus.data, log);
    }
}

template <class T, class I>
void selection_gradients(sk_context &ctx, const Compiled &c, const std::vector<TensorRef> &operands,
                         const TensorRef *argmax, const TensorRef &grad_out,
                         const std::vector<const TensorRef *> &grads) {
    const Equation &eq = c.equation;
    if (argmax) {
        check_argmax<I>(ctx, eq, *argmax);
        std::vector<index_t> st(argmax->stride, argmax->stride + argmax->rank);
        route_gradients<T, I>(ctx, c, grad_out, static_cast<const I *>(argmax->data), st, grads);
        return;
    }
    // Recompute the forward with an int64 argmax into the workspace.
    const index_t out_count = count_of(eq.output, eq.extent);
    const index_t summed = static_cast<index_t>(eq.summed.size());
    const index_t out_bytes = aligned(std::max<index_t>(out_count, 1) * static_cast<index_t>(sizeof(T)));
    auto lease = ctx.workspace().acquire(
        static_cast<std::size_t>(out_bytes + aligned(std::max<index_t>(out_count * summed, 1) * 8)),
        "einsum recomputed output and argmax");
    TensorRef out_t, am_t;
    out_t.data = lease.as<char>();
    am_t.data = lease.as<char>() + out_bytes;
    out_t.rank = static_cast<int>(eq.output.size());
    am_t.rank = out_t.rank + 1;
    index_t stride = 1;
    am_t.shape[out_t.rank] = summed;
    am_t.stride[out_t.rank] = 1;
    index_t am_stride = summed;
    for (int d = out_t.rank - 1; d >= 0; --d) {
        const index_t e = eq.extent[static_cast<std::size_t>(eq.output[static_cast<std::size_t>(d)])];
        out_t.shape[d] = am_t.shape[d] = e;
        out_t.stride[d] = stride;
        am_t.stride[d] = am_stride;
        stride *= e;
        am_stride *= e;
    }
    forward<T>(ctx, c, operands, out_t, &am_t, true);  // (blocked under the plan's limit too)
    std::vector<index_t> st(am_t.stride, am_t.stride + am_t.rank);
    route_gradients<T, std::int64_t>(ctx, c, grad_out, static_cast<const std::int64_t *>(am_t.data), st, grads);
}

// ---- the single-step backward (fast path 1) -------------------------------------------------------
//
// A plan of one Contract step is one batched semiring matmul C = X (x) Y over the flattened groups
// (batch, m, k) x (batch, k, n); its gradient is the matmul engine's backward with the same
// views: grad_out (and out, for LOG) as (batch, m, n), a caller's argmax (MAX/MIN) as the int32
// flat k index, gradients either straight into the caller's tensors or through a buffer over the
// operand's labels and a scatter (diagonals). Semantics are the generic path's:
//   REAL     the same sums (another order).
//   MAX/MIN  the same routing: for one step the matmul's argmax is the einsum's (lowest flat k,
//            -1 at the semiring zero); a given argmax is range-checked by the einsum's own check.
//   LOG      identical where grad_out is finite and out is finite or -inf (ZERO convention), which
//            one counting pass checks first (log_fast_path_blocked); else the generic path runs.
// A broadcast operand takes the path only when it broadcasts over the whole batch group (the
// matmul's shared operand, stride_b 0: its gradient is summed over the batch); a label broadcast
// along k or only partly along the batch keeps the generic path.

// Whether operand i's gradient is the matmul's: its broadcast labels (if any) are exactly the
// batch labels of extent > 1 (then *shared: the matmul sums over the batch).
bool single_step_gradient_maps(const Equation &eq, const Step &st, std::size_t i, bool *shared) {
    std::vector<int> broadcast, plain;
    for (std::size_t d = 0; d < eq.operand_dims[i].size(); ++d)
        (is_broadcast(eq, i, d) ? broadcast : plain).push_back(eq.operand_dims[i][d]);
    *shared = !broadcast.empty();
    for (int l : broadcast)
        if (contains(plain, l) || !contains(st.batch, l)) return false;
    if (*shared)
        for (int l : st.batch)
            if (eq.extent[static_cast<std::size_t>(l)] != 1 && !contains(broadcast, l)) return false;
    return true;
}

// Runs the single-step backward and returns true, or returns false (nothing written) when the
// call needs the generic path.
template <class T, class I>
bool single_step_backward(sk_context &ctx, const Compiled &c, const std::vector<TensorRef> &operands,
                          const TensorRef *out, const TensorRef *argmax, const TensorRef &grad_out,
                          const std::vector<const TensorRef *> &grads) {
    const Equation &eq = c.equation;
    const Semiring semiring = c.semiring;
    if (!is_single_contract(c) || semiring == Semiring::Boolean) return false;
    const Step &st = c.plan.steps.front();
    const auto &extent = eq.extent;
    const index_t out_count = count_of(eq.output, extent);
    const index_t k_count = count_of(st.k, extent);
    // Empty sums and outputs keep the generic path (its zero-filling rules).
    if (out_count == 0 || k_count == 0) return false;
    const bool select = is_selection(semiring);
    if (select && k_count > std::numeric_limits<std::int32_t>::max()) return false;
    // The gradient targets of x (rows m, cols k) and y (rows k, cols n).
    struct Target {
        const TensorRef *grad = nullptr;
        std::size_t operand = 0;
        const std::vector<int> *rows = nullptr, *cols = nullptr;
        bool shared = false;  // broadcast over the batch: the matmul sums its batch terms
        bool direct = false;  // the caller's tensor takes the (batch, rows, cols) view
        Node<T> node;         // the caller's gradient tensor, a stride per label
    } target[2];
    bool any = false;
    for (int side = 0; side < 2; ++side) {
        Target &t = target[side];
        t.operand = static_cast<std::size_t>(side == 0 ? st.x : st.y);
        t.rows = side == 0 ? &st.m : &st.k;
        t.cols = side == 0 ? &st.k : &st.n;
        t.grad = t.operand < grads.size() ? grads[t.operand] : nullptr;
        if (t.grad) {
            index_t count = 1;
            for (int d = 0; d < t.grad->rank; ++d) count *= t.grad->shape[d];
            if (count == 0) t.grad = nullptr;
        }
        if (!t.grad) continue;
        any = true;
        if (!single_step_gradient_maps(eq, st, t.operand, &t.shared)) return false;
        t.node = operand_node<T>(eq, t.operand, *t.grad);
        const auto &dims = eq.operand_dims[t.operand];
        index_t unused;
        t.direct = unique_labels(dims).size() == dims.size() &&
                   group_stride(st.batch, t.node.stride, extent, &unused) &&
                   group_stride(*t.rows, t.node.stride, extent, &unused) &&
                   group_stride(*t.cols, t.node.stride, extent, &unused);
    }
    if (!any) return false;
    // A given argmax (MAX/MIN): in place when it is int32 with S = 1 and flattens, else encoded.
    const bool given = select && argmax != nullptr;
    View3<const std::int32_t> direct_argmax{};
    if (given && std::is_same_v<I, std::int32_t> && eq.summed.size() == 1) {
        const Node<T> am = output_node<T>(eq.output, eq.num_labels, *argmax);
        View3<const std::int32_t> v{static_cast<const std::int32_t *>(argmax->data), 0, 0, 0};
        if (group_stride(st.batch, am.stride, extent, &v.stride_b) && group_stride(st.m, am.stride, extent, &v.stride_i) &&
            group_stride(st.n, am.stride, extent, &v.stride_j))
            direct_argmax = v;
    }
    Runner<T> r{ctx, semiring, c.plan, extent};
    auto body = [&](Runner<T> &run) {
        const Node<T> x = run.flattenable(operand_node<T>(eq, static_cast<std::size_t>(st.x), operands[static_cast<std::size_t>(st.x)]),
                                          {&st.batch, &st.m, &st.k});
        const Node<T> y = run.flattenable(operand_node<T>(eq, static_cast<std::size_t>(st.y), operands[static_cast<std::size_t>(st.y)]),
                                          {&st.batch, &st.k, &st.n});
        const Node<T> g = run.flattenable(output_node<T>(eq.output, eq.num_labels, grad_out), {&st.batch, &st.m, &st.n});
        Node<T> z;
        if (semiring == Semiring::Log)
            z = run.flattenable(output_node<T>(eq.output, eq.num_labels, *out), {&st.batch, &st.m, &st.n});
        View3<const std::int32_t> am = direct_argmax;
        if (given && !am.data) {
            std::vector<int> order = st.batch;
            order.insert(order.end(), st.m.begin(), st.m.end());
            order.insert(order.end(), st.n.begin(), st.n.end());
            std::int32_t *flat = run.template take<std::int32_t>(out_count);
            const auto flat_stride = contiguous_strides(order, extent, eq.num_labels);
            am = View3<const std::int32_t>{flat, count_of(st.m, extent) * count_of(st.n, extent),
                                           count_of(st.n, extent), 1};
            ArgmaxEncodeParams p;
            std::vector<index_t> e;
            std::vector<std::array<index_t, 3>> s;
            for (std::size_t d = 0; d < eq.output.size(); ++d) {
                e.push_back(argmax->shape[d]);
                s.push_back({argmax->stride[d], flat_stride[static_cast<std::size_t>(eq.output[d])], 0});
            }
            p.out = make_walk(e, s);
            p.num_summed = static_cast<int>(eq.summed.size());
            for (std::size_t k = 0; k < eq.summed.size(); ++k)
                p.summed_extent[k] = extent[static_cast<std::size_t>(eq.summed[k])];
            p.summed_stride = argmax->stride[argmax->rank - 1];
            const I *given_data = static_cast<const I *>(argmax->data);
            if (!run.dry)
                SK_EINSUM_ON(ctx, (argmax_encode_cpu<I>(ctx, p, given_data, flat)),
                             (argmax_encode_cuda<I>(ctx, p, given_data, flat)));
        }
        View3<T> grad_view[2];
        Node<T> buffer[2];
        for (int side = 0; side < 2; ++side) {
            const Target &t = target[side];
            if (!t.grad) continue;
            if (t.direct) {
                grad_view[side] = run.view3(t.node, st.batch, *t.rows, *t.cols);
                continue;
            }
            // A buffer over the operand's labels; a shared gradient has no batch dimension.
            std::vector<int> labels = t.shared ? std::vector<int>{} : st.batch;
            labels.insert(labels.end(), t.rows->begin(), t.rows->end());
            labels.insert(labels.end(), t.cols->begin(), t.cols->end());
            buffer[side].stride = contiguous_strides(labels, extent, eq.num_labels);
            buffer[side].data = run.template take<T>(count_of(labels, extent));
            grad_view[side] = run.view3(buffer[side], st.batch, *t.rows, *t.cols);
        }
        if (run.dry) return;
        matmul::Shape shape;
        shape.batch = count_of(st.batch, extent);
        shape.m = count_of(st.m, extent);
        shape.n = count_of(st.n, extent);
        shape.k = k_count;
        matmul::BackwardArgs<T> args{shape,
                                     semiring,
                                     run.view3(x, st.batch, st.m, st.k).as_const(),
                                     run.view3(y, st.batch, st.k, st.n).as_const(),
                                     semiring == Semiring::Log ? run.view3(z, st.batch, st.m, st.n).as_const()
                                                               : View3<const T>{},
                                     am,
                                     run.view3(g, st.batch, st.m, st.n).as_const(),
                                     grad_view[0],
                                     grad_view[1]};
        SK_EINSUM_ON(ctx, matmul::backward_cpu<T>(ctx, args), matmul::backward_cuda<T>(ctx, args));
        for (int side = 0; side < 2; ++side) {
            const Target &t = target[side];
            if (t.grad && !t.direct)
                scatter_gradient<T>(ctx, eq, t.operand, *t.grad, operands[t.operand], buffer[side], nullptr, false);
        }
    };
    body(r);  // dry: sizes only
    // The generic MAX/MIN backward reruns the forward in blocks under the plan's own limit: keep
    // it when this path's buffers would exceed that limit (REAL/LOG have no blocked backward).
    if (select && c.workspace_limit > 0 && r.bytes > c.workspace_limit) return false;
    if (semiring == Semiring::Log) {
        std::vector<index_t> e;
        std::vector<std::array<index_t, 3>> s;
        for (std::size_t d = 0; d < eq.output.size(); ++d) {
            e.push_back(extent[static_cast<std::size_t>(eq.output[d])]);
            s.push_back({grad_out.stride[d], out->stride[d], 0});
        }
        const Walk w = make_walk(e, s);
        const bool nan = c.zero_gradient == SK_EINSUM_ZERO_GRADIENT_NAN;
        const T *gd = static_cast<const T *>(grad_out.data);
        const T *od = static_cast<const T *>(out->data);
        index_t blocked = 0;
        SK_EINSUM_ON(ctx, (blocked = count_log_blockers_cpu<T>(ctx, w, gd, od, nan)),
                     (blocked = count_log_blockers_cuda<T>(ctx, w, gd, od, nan)));
        if (blocked > 0) return false;
    }
    if (given) check_argmax<I>(ctx, eq, *argmax);  // the einsum's check and message
    auto lease = ctx.workspace().acquire(static_cast<std::size_t>(std::max<index_t>(r.bytes, 1)), "einsum single-step backward");
    r.dry = false;
    r.bytes = 0;
    r.base = lease.template as<char>();
    body(r);
    return true;
}

}  // namespace

template <class T>
void backward(sk_context &ctx, const Compiled &c, const std::vector<TensorRef> &operands,
              const TensorRef *out, const TensorRef *argmax, bool argmax_int64,
              const TensorRef &grad_out, const std::vector<const TensorRef *> &grads) {
    const bool fast = (argmax && argmax_int64)
                          ? single_step_backward<T, std::int64_t>(ctx, c, operands, out, argmax, grad_out, grads)
                          : single_step_backward<T, std::int32_t>(ctx, c, operands, out, argmax, grad_out, grads);
    if (fast) return;
    if (is_smooth(c.semiring)) return smooth_gradients<T>(ctx, c, operands, out, grad_out, grads);
    if (argmax_int64 || !argmax)
        return selection_gradients<T, std::int64_t>(ctx, c, operands, argmax, grad_out, grads);
    selection_gradients<T, std::int32_t>(ctx, c, operands, argmax, grad_out, grads);
}

template void forward<float>(sk_context &, const Compiled &, const std::vector<TensorRef> &,
                             const TensorRef &, const TensorRef *, bool);
template void forward<double>(sk_context &, const Compiled &, const std::vector<TensorRef> &,
                              const TensorRef &, const TensorRef *, bool);
template void backward<float>(sk_context &, const Compiled &, const std::vector<TensorRef> &,
                              const TensorRef *, const TensorRef *, bool, const TensorRef &,
                              const std::vector<const TensorRef *> &);
template void backward<double>(sk_context &, const Compiled &, const std::vector<TensorRef> &,
                               const TensorRef *, const TensorRef *, bool, const TensorRef &,
                               const std::vector<const TensorRef *> &);

}  // namespace sk::einsum
