// The semiring algebra, shared verbatim by the CPU and CUDA backends (__host__ __device__).
//
// Each semiring S<T> provides zero(), one(), plus(a, b), times(a, b). Conventions:
//  - LOG  (logsumexp, +): zero = -inf, handled exactly: plus(-inf, -inf) = -inf, never NaN.
//  - MAX  (max, +) and MIN (min, +): zero = -inf / +inf.
//  - REAL (+, *), BOOLEAN (or, and) on 0/1 values (any nonzero input counts as 1).
//  - NaN in either argument of plus or times gives NaN (max/min included: a NaN term wins,
//    unlike fmax which would drop it).
// Selection semirings (MAX, MIN) also define better(x, best): true when x should replace the
// current best while scanning k in increasing order; strict, so ties keep the lowest k.
#pragma once

#include <cmath>
#include <limits>

#include "core/common.h"

namespace sk {

template <class T>
SK_HD T positive_infinity() {
    return std::numeric_limits<T>::infinity();
}

template <class T>
SK_HD bool is_nan(T x) {
    return x != x;
}

// log(exp(a) + exp(b)) without overflow, exact for -inf arguments and equal infinities.
template <class T>
SK_HD T log_add_exp(T a, T b) {
    if (is_nan(a) || is_nan(b)) return a + b;  // NaN
    const T hi = a > b ? a : b;
    const T lo = a > b ? b : a;
    if (lo == -positive_infinity<T>()) return hi;
    if (hi == positive_infinity<T>()) return hi;
    return hi + std::log1p(std::exp(lo - hi));
}

// Online logsumexp: keeps (max, sum of exp(x - max)) so a long reduction needs one exp per
// element and never overflows. value() = max + log(sum); -inf when nothing finite was seen.
template <class T>
struct LogSumExpAccumulator {
    T max = -positive_infinity<T>();
    T sum = T(0);

    SK_HD void add(T x) {
        if (is_nan(x)) {
            max = x;
            sum = T(1);
            return;
        }
        if (is_nan(max)) return;
        if (x == -positive_infinity<T>()) return;
        if (x <= max) {
            sum += std::exp(x - max);
        } else {
            sum = (max == -positive_infinity<T>() ? T(0) : sum * std::exp(max - x)) + T(1);
            max = x;
        }
    }
    SK_HD T value() const {
        if (is_nan(max)) return max;
        if (max == -positive_infinity<T>()) return max;
        if (max == positive_infinity<T>()) return max;
        return max + std::log(sum);
    }
};

template <class T>
struct LogSemiring {
    static SK_HD T zero() { return -positive_infinity<T>(); }
    static SK_HD T one() { return T(0); }
    static SK_HD T plus(T a, T b) { return log_add_exp(a, b); }
    static SK_HD T times(T a, T b) { return a + b; }
};

template <class T>
struct MaxSemiring {
    static SK_HD T zero() { return -positive_infinity<T>(); }
    static SK_HD T one() { return T(0); }
    // x > best, or x NaN and best not: the same truth table as `x > best || (is_nan(x) &&
    // !is_nan(best))`, written without a short-circuit so the compiler emits two compares and
    // a predicate AND instead of a branch (the branchy form cost ~15 instructions per term in
    // the GPU select loops, ncu 2026-11-23).
    static SK_HD bool better(T x, T best) {
        const bool not_below = !(x <= best), best_is_number = best == best;
        return not_below && best_is_number;
    }
    static SK_HD T plus(T a, T b) { return better(b, a) ? b : a; }
    static SK_HD T times(T a, T b) { return a + b; }
};

template <class T>
struct MinSemiring {
    static SK_HD T zero() { return positive_infinity<T>(); }
    static SK_HD T one() { return T(0); }
    static SK_HD bool better(T x, T best) {  // as MaxSemiring::better
        const bool not_above = !(x >= best), best_is_number = best == best;
        return not_above && best_is_number;
    }
    static SK_HD T plus(T a, T b) { return better(b, a) ? b : a; }
    static SK_HD T times(T a, T b) { return a + b; }
};

template <class T>
struct RealSemiring {
    static SK_HD T zero() { return T(0); }
    static SK_HD T one() { return T(1); }
    static SK_HD T plus(T a, T b) { return a + b; }
    static SK_HD T times(T a, T b) { return a * b; }
};

template <class T>
struct BooleanSemiring {
    static SK_HD T zero() { return T(0); }
    static SK_HD T one() { return T(1); }
    static SK_HD T truth(T a) { return is_nan(a) ? a : (a != T(0) ? T(1) : T(0)); }
    static SK_HD T plus(T a, T b) {
        if (is_nan(a) || is_nan(b)) return a + b;
        return (truth(a) != T(0) || truth(b) != T(0)) ? T(1) : T(0);
    }
    static SK_HD T times(T a, T b) {
        if (is_nan(a) || is_nan(b)) return a + b;
        return (truth(a) != T(0) && truth(b) != T(0)) ? T(1) : T(0);
    }
};

// True for the semirings whose plus selects one term (max, min): they have an argmax.
SK_HD bool is_selection(Semiring s) { return s == Semiring::Max || s == Semiring::Min; }
// True for the semirings with a (non-routing) gradient.
SK_HD bool is_smooth(Semiring s) { return s == Semiring::Log || s == Semiring::Real; }

// Calls f(SemiringType<T>{}) for a runtime semiring tag.
template <class T, class F>
auto with_semiring(Semiring s, F &&f) {
    switch (s) {
        case Semiring::Log: return f(LogSemiring<T>{});
        case Semiring::Max: return f(MaxSemiring<T>{});
        case Semiring::Min: return f(MinSemiring<T>{});
        case Semiring::Real: return f(RealSemiring<T>{});
        case Semiring::Boolean: break;
    }
    return f(BooleanSemiring<T>{});
}

}  // namespace sk
