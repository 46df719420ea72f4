// Stride-aware tensor views. A View3 addresses element (b, i, j) at
// data + b*stride_b + i*stride_i + j*stride_j (strides in elements). A zero stride_b shares one
// matrix across the batch. Views do not own memory; they are passed by value into kernels.
#pragma once

#include "core/common.h"

namespace sk {

template <class T>
struct View3 {
    T *data = nullptr;
    index_t stride_b = 0;
    index_t stride_i = 0;
    index_t stride_j = 0;

    SK_HD T &operator()(index_t b, index_t i, index_t j) const {
        return data[b * stride_b + i * stride_i + j * stride_j];
    }
    SK_HD T *matrix(index_t b) const { return data + b * stride_b; }
    // True when each row is contiguous (unit column stride).
    SK_HD bool rows_contiguous() const { return stride_j == 1; }
    template <class U>
    View3<U> as() const {
        return View3<U>{reinterpret_cast<U *>(data), stride_b, stride_i, stride_j};
    }
    View3<const T> as_const() const { return View3<const T>{data, stride_b, stride_i, stride_j}; }
};

}  // namespace sk
