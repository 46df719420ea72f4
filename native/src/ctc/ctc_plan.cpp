// The host-side tables of a CTC call, shared by the CPU and CUDA backends (see ctc.h).
#include <algorithm>

#include "ctc/ctc.h"

namespace sk::ctc {

void finish_plan(Plan &plan) {
    const std::size_t total = plan.labels.size();
    plan.next_same.assign(total, -1);
    plan.first.assign(total, 1);
    plan.feasible.assign(static_cast<std::size_t>(plan.batch), 0);
    // last[c]: the most recent position (scanning backwards) with label c in this sequence.
    // Only touched entries are reset, so the cost is O(sum of target lengths), not O(B C).
    std::vector<std::int32_t> last(static_cast<std::size_t>(std::max<index_t>(plan.classes, 1)), -1);
    for (index_t b = 0; b < plan.batch; ++b) {
        const auto length = static_cast<index_t>(plan.target_length[static_cast<std::size_t>(b)]);
        const auto base = static_cast<std::size_t>(plan.label_offset[static_cast<std::size_t>(b)]);
        const std::int32_t *labels = plan.labels.data() + base;
        index_t repeats = 0;
        for (index_t j = length - 1; j >= 0; --j) {
            const auto c = static_cast<std::size_t>(labels[j]);
            plan.next_same[base + static_cast<std::size_t>(j)] = last[c];
            if (last[c] >= 0) plan.first[base + static_cast<std::size_t>(last[c])] = 0;
            last[c] = static_cast<std::int32_t>(j);
            if (j > 0 && labels[j] == labels[j - 1]) ++repeats;
        }
        for (index_t j = 0; j < length; ++j) last[static_cast<std::size_t>(labels[j])] = -1;
        plan.feasible[static_cast<std::size_t>(b)] =
            plan.input_length[static_cast<std::size_t>(b)] >= length + repeats ? 1 : 0;
    }
}

}  // namespace sk::ctc
