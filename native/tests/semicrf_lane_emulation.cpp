// The semi-CRF per-sequence algorithm (native/src/semicrf/semicrf.h) run the way the CUDA kernel
// runs it, with several lanes, here host threads behind a barrier standing in for
// __syncthreads, and the batch scratch and shared-gradient reduction laid out as in
// semicrf_cuda.cu. Every output must be bitwise identical to the library's CPU backend (one
// lane), for lane counts that divide the labels, do not divide them, and exceed them.
//
// What this checks without a GPU: that every value one lane writes and another reads is
// separated by a lanes_sync(), that each scratch element has one writing lane, that lanes
// which own no label still reach every barrier, and that the CUDA scratch layout (one block of
// Layout::doubles per sequence, the shared slices read at the layout's offsets) is right.
// What it cannot check: the CUDA runtime calls, shared-memory placement of the ring, and
// device exp/log rounding. Unlike most tests it includes library internals (native/src).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace lane_emulation {
void barrier_wait();
}
#define SK_SEMICRF_HOST_LANE_SYNC() ::lane_emulation::barrier_wait()

#include "semicrf/semicrf.h"
#include "semicrf_reference.h"

namespace lane_emulation {

// A reusable barrier for `count` threads (generation counter).
struct Barrier {
    std::mutex mutex;
    std::condition_variable cv;
    int count = 1, waiting = 0;
    unsigned long generation = 0;
};
Barrier barrier;

void barrier_wait() {
    std::unique_lock<std::mutex> lock(barrier.mutex);
    const unsigned long gen = barrier.generation;
    if (++barrier.waiting == barrier.count) {
        barrier.waiting = 0;
        ++barrier.generation;
        barrier.cv.notify_all();
        return;
    }
    // Lanes that disagree about how many barriers to pass (a divergent lanes_sync, which would
    // hang or corrupt a CUDA block) never complete a barrier: report it instead of hanging.
    if (!barrier.cv.wait_for(lock, std::chrono::seconds(20), [&] { return barrier.generation != gen; })) {
        std::fprintf(stderr, "lane emulation: a barrier was not reached by every lane within 20 s "
                             "(divergent lanes_sync)\n");
        std::abort();
    }
}

}  // namespace lane_emulation

using namespace sktest;
namespace sc = sk::semicrf;

namespace {

// run_cuda's structure on the host: batch scratch, one "block" of `lanes` threads per sequence,
// then one "thread" per shared-gradient entry.
template <class T>
void emulate(const sc::Request<T> &req, int lanes) {
    const auto &m = req.model;
    const sc::Needs needs = sc::needs_of(req.op, m.semiring, req.gold.labels != nullptr);
    const sc::Layout layout = sc::layout_of(m.shape, m.duration_transitions, needs);
    std::vector<double> doubles(static_cast<size_t>(m.shape.batch * layout.doubles), std::nan(""));
    std::vector<int32_t> ints(static_cast<size_t>(m.shape.batch * layout.ints), -99);
    std::vector<sk::index_t> indices(static_cast<size_t>(m.shape.batch * layout.indices), -99);
    lane_emulation::barrier.count = lanes;
    for (sk::index_t b = 0; b < m.shape.batch; ++b) {
        const sc::Seq q = sc::bind_seq(layout, b, m.lengths[b], doubles.data() + b * layout.doubles,
                                       ints.data() + b * layout.ints, indices.data() + b * layout.indices);
        std::vector<std::thread> threads;
        for (int lane = 0; lane < lanes; ++lane)
            threads.emplace_back([&, lane] { sc::process_sequence(req, q, sc::Lanes{lane, lanes}); });
        for (auto &t : threads) t.join();
    }
    sc::SliceLayout slices;
    slices.dur = layout.g_dur;
    slices.trans = layout.g_trans;
    slices.start = layout.starts;
    slices.stride = layout.doubles;
    for (int which = 0; which < 3; ++which)
        for (sk::index_t i = 0; i < sc::shared_entries(req, which); ++i)
            sc::reduce_shared_entry(req, slices, doubles.data(), which, i);
}

template <class T>
sk::View3<T> v3(HostTensor<T> &t) {
    if (t.desc.rank == 2) return {t.storage.data(), 0, t.desc.strides[0], t.desc.strides[1]};
    return {t.storage.data(), t.desc.strides[0], t.desc.strides[1], t.desc.strides[2]};
}
template <class T>
sc::View2<T> v2(HostTensor<T> &t) {
    return {t.storage.data(), t.desc.strides[0], t.desc.strides[1]};
}
template <class T>
sc::View1<T> v1(HostTensor<T> &t) {
    return {t.storage.data(), t.desc.strides[0]};
}

// All outputs of one op, for one backend.
struct Outs {
    HostTensor<double> value, gx, gt, gd, gs, gps, gpe, boundary, coverage;
    HostTensor<int32_t> segs, counts, path;
    Outs(SemiCrfProblem<double> &p) {
        const int64_t B = p.cfg.batch, T = p.cfg.steps, C = p.cfg.labels;
        auto like = [](HostTensor<double> &in) {
            return HostTensor<double>(std::vector<int64_t>(in.desc.shape, in.desc.shape + in.desc.rank), -7.0);
        };
        value = HostTensor<double>({B}, -7);
        gx = like(p.x);
        gt = like(p.transition);
        gd = like(p.duration_bias);
        gs = like(p.start);
        gps = like(p.proj_start);
        gpe = like(p.proj_end);
        boundary = HostTensor<double>({B, T}, -7);
        coverage = HostTensor<double>({B, T, C}, -7);
        segs = HostTensor<int32_t>({B, T, 3}, -7);
        counts = HostTensor<int32_t>({B}, -7);
        path = HostTensor<int32_t>({B, T}, -7);
    }
    bool same(const Outs &o) const {
        auto eq = [](const auto &a, const auto &b) {
            return a.storage.size() == b.storage.size() &&
                   std::memcmp(a.storage.data(), b.storage.data(), a.storage.size() * sizeof(a.storage[0])) == 0;
        };
        return eq(value, o.value) && eq(gx, o.gx) && eq(gt, o.gt) && eq(gd, o.gd) && eq(gs, o.gs) && eq(gps, o.gps) &&
               eq(gpe, o.gpe) && eq(boundary, o.boundary) && eq(coverage, o.coverage) && eq(segs, o.segs) &&
               eq(counts, o.counts) && eq(path, o.path);
    }
};

// The request the C API builds for `op` (validated inputs of `p`, outputs in `out`).
sc::Request<double> make_request(SemiCrfProblem<double> &p, sc::Op op, Outs &out, HostTensor<double> &upstream,
                                 std::vector<sk::index_t> &lengths, std::vector<sk::index_t> &labels,
                                 std::vector<sk::index_t> &runs) {
    sc::Request<double> r;
    auto &m = r.model;
    m.shape = {p.cfg.batch, p.cfg.steps, p.cfg.labels, p.cfg.durations};
    m.semiring = p.cfg.semiring == SK_SEMIRING_MAX ? sk::Semiring::Max : sk::Semiring::Log;
    m.input = p.cfg.cumulative ? sc::Input::Cumulative : sc::Input::Scores;
    m.zero_centre = p.cfg.zero_centre;
    m.compat = p.cfg.compat;
    m.duration_transitions = p.cfg.duration_transitions;
    lengths.clear();
    for (int64_t b = 0; b < p.cfg.batch; ++b) lengths.push_back(p.length(b));
    m.lengths = lengths.data();
    auto c3 = [](HostTensor<double> &t) {
        auto v = v3(t);
        return sk::View3<const double>{v.data, v.stride_b, v.stride_i, v.stride_j};
    };
    m.x = c3(p.x);
    m.transition = c3(p.transition);
    m.duration_bias = {p.duration_bias.storage.data(), p.duration_bias.desc.strides[0], p.duration_bias.desc.strides[1]};
    if (p.cfg.with_start) m.start = {p.start.storage.data(), 1};
    if (p.cfg.with_proj) {
        m.proj_start = c3(p.proj_start);
        m.proj_end = c3(p.proj_end);
    }
    r.op = op;
    auto &o = r.out;
    o.value = v1(out.value);
    o.upstream = {upstream.storage.data(), 1};
    if (op == sc::Op::Backward || op == sc::Op::GoldBackward) {
        o.grad_x = v3(out.gx);
        o.grad_transition = v3(out.gt);
        o.grad_duration_bias = v2(out.gd);
        if (p.cfg.with_start) o.grad_start = v1(out.gs);
        if (p.cfg.with_proj) {
            o.grad_proj_start = v3(out.gps);
            o.grad_proj_end = v3(out.gpe);
        }
    }
    if (op == sc::Op::Marginals) {
        o.boundary = v2(out.boundary);
        o.coverage = v3(out.coverage);
    }
    if (op == sc::Op::Viterbi) {
        o.segments = v3(out.segs);
        o.segment_capacity = p.cfg.steps;
        o.segment_counts = v1(out.counts);
        o.label_path = v2(out.path);
    }
    if (op == sc::Op::GoldScore || op == sc::Op::GoldBackward) {
        // Labelling "t / 2 % C" and its runs.
        const int64_t B = p.cfg.batch, T = p.cfg.steps, C = p.cfg.labels;
        labels.assign(static_cast<size_t>(B * T), -1);
        runs.assign(static_cast<size_t>(B * T), 0);
        for (int64_t b = 0; b < B; ++b) {
            const int64_t L = p.length(b);
            for (int64_t t = 0; t < L; ++t) labels[static_cast<size_t>(b * T + t)] = (t / 2) % C;
            for (int64_t t = L - 1; t >= 0; --t)
                runs[static_cast<size_t>(b * T + t)] =
                    (t + 1 < L && labels[static_cast<size_t>(b * T + t + 1)] == labels[static_cast<size_t>(b * T + t)])
                        ? runs[static_cast<size_t>(b * T + t + 1)] + 1
                        : 1;
        }
        r.gold.labels = labels.data();
        r.gold.runs = runs.data();
    }
    return r;
}

}  // namespace

TEST(lanes_give_bitwise_the_single_lane_results) {
    Context ctx;
    const sc::Op ops[] = {sc::Op::Forward, sc::Op::Backward, sc::Op::Marginals, sc::Op::Viterbi, sc::Op::GoldScore,
                          sc::Op::GoldBackward};
    uint64_t seed = 1;
    for (int variant = 0; variant < 8; ++variant) {
        SemiCrfConfig c;
        c.batch = 3;
        c.steps = 13;
        c.labels = variant < 4 ? 4 : 7;
        c.durations = variant % 2 ? 3 : 20;
        c.duration_transitions = variant & 2;
        c.cumulative = variant == 5;
        c.zero_centre = variant == 4;
        c.compat = variant >= 6;
        c.lengths = {13, 1, 8};
        for (int32_t semiring : {SK_SEMIRING_LOG, SK_SEMIRING_MAX}) {
            c.semiring = semiring;
            SemiCrfProblem<double> p(c, seed++);
            HostTensor<double> upstream({3});
            upstream.storage = {0.5, -1.25, 2.0};
            for (sc::Op op : ops) {
                if (op == sc::Op::Viterbi && semiring != SK_SEMIRING_MAX) continue;
                std::vector<sk::index_t> lengths, labels, runs;
                Outs reference(p);
                sc::Request<double> r1 = make_request(p, op, reference, upstream, lengths, labels, runs);
                emulate(r1, 1);  // one lane: the CPU backend's arrangement
                if (op == sc::Op::Backward) {
                    // Anchor: the one-lane run equals the library's CPU backend bit for bit.
                    SemiCrfGrads<double> g(p);
                    CHECK_OK(semicrf_backward(ctx.ctx, p, upstream, g));
                    CHECK(std::memcmp(g.x.storage.data(), reference.gx.storage.data(),
                                      g.x.storage.size() * sizeof(double)) == 0);
                    CHECK(std::memcmp(g.transition.storage.data(), reference.gt.storage.data(),
                                      g.transition.storage.size() * sizeof(double)) == 0);
                    CHECK(std::memcmp(g.value.storage.data(), reference.value.storage.data(),
                                      g.value.storage.size() * sizeof(double)) == 0);
                }
                for (int lanes : {1, 3, 4, 9}) {
                    Outs out(p);
                    std::vector<sk::index_t> l2, lab2, run2;
                    sc::Request<double> r2 = make_request(p, op, out, upstream, l2, lab2, run2);
                    emulate(r2, lanes);
                    CHECK_MSG(out.same(reference), "variant " << variant << " semiring " << semiring << " op "
                              << static_cast<int>(op) << " lanes " << lanes);
                }
            }
        }
    }
}

TEST_MAIN()
