// CPU backend of the semi-CRF family: sequences in parallel over the context's pool, each run
// by one thread through the shared per-sequence algorithm of semicrf.h (one lane), with float64
// scratch per thread. Shared-parameter gradients are summed over the batch in batch order
// afterwards, so results do not depend on the thread count.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/context.h"
#include "semicrf/semicrf.h"

namespace sk::semicrf {
namespace {

// The compact per-sequence copy of the shared-parameter slices kept for the batch reduction.
struct CompactSlices {
    SliceLayout layout;
    std::vector<double> data;
};

CompactSlices make_compact_slices(const Shape &s, bool duration_transitions, bool wanted) {
    CompactSlices c;
    if (!wanted) return c;
    const index_t C = s.labels;
    c.layout.dur = 0;
    c.layout.trans = used_durations(s) * C;
    c.layout.start = c.layout.trans + transition_rows(s, duration_transitions) * C * C;
    c.layout.stride = c.layout.start + C;
    c.data.assign(static_cast<std::size_t>(s.batch * c.layout.stride), 0.0);
    return c;
}

void copy_slices(const Layout &l, const Seq &q, const Shape &s, bool duration_transitions, CompactSlices &c) {
    const index_t C = s.labels;
    double *out = c.data.data() + q.b * c.layout.stride;
    std::copy(q.g_dur, q.g_dur + used_durations(s) * C, out + c.layout.dur);
    std::copy(q.g_trans, q.g_trans + transition_rows(s, duration_transitions) * C * C, out + c.layout.trans);
    std::copy(q.starts, q.starts + C, out + c.layout.start);  // S_0
    (void)l;
}

}  // namespace

template <class T>
void run_cpu(sk_context &ctx, const Request<T> &req) {
    const Model<T> &m = req.model;
    const Needs needs = needs_of(req.op, m.semiring, req.gold.labels != nullptr);
    const Layout l = layout_of(m.shape, m.duration_transitions, needs);
    const bool shared_wanted = needs.accumulators && (shared_entries(req, 0) + shared_entries(req, 1) + shared_entries(req, 2)) > 0;
    CompactSlices slices = make_compact_slices(m.shape, m.duration_transitions, shared_wanted);

    ctx.pool().parallel_for(m.shape.batch, 1, [&](index_t b0, index_t b1) {
        std::vector<double> doubles(static_cast<std::size_t>(l.doubles));
        std::vector<std::int32_t> ints(static_cast<std::size_t>(l.ints));
        std::vector<index_t> indices(static_cast<std::size_t>(l.indices));
        for (index_t b = b0; b < b1; ++b) {
            const Seq q = bind_seq(l, b, m.lengths[b], doubles.data(), ints.data(), indices.data());
            process_sequence(req, q, Lanes{});
            if (shared_wanted) copy_slices(l, q, m.shape, m.duration_transitions, slices);
        }
    });

    for (int which = 0; which < 3; ++which) {
        const index_t n = shared_entries(req, which);
        if (n == 0) continue;
        ctx.pool().parallel_for(n, 64, [&](index_t i0, index_t i1) {
            for (index_t i = i0; i < i1; ++i) reduce_shared_entry(req, slices.layout, slices.data.data(), which, i);
        });
    }
}

template void run_cpu<float>(sk_context &, const Request<float> &);
template void run_cpu<double>(sk_context &, const Request<double> &);

}  // namespace sk::semicrf
