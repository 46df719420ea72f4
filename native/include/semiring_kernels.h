/*
 * Semiring Kernels: the public C ABI.
 *
 * One header, C11, prefix sk_. It is the input of jextract (see jextract/) and the only thing a
 * C or C++ program needs besides the shared library. Conventions:
 *   - Every function that can fail returns sk_status (SK_OK = 0). The message of a failure is
 *     kept on the context that failed (sk_context_last_error) and, for every call, on the calling
 *     thread (sk_last_error) until that thread's next failing call.
 *   - Tensors cross the boundary as sk_tensor descriptors: data pointer, dtype, device, rank,
 *     shape and strides counted in elements (not bytes). Strides may be any non-negative values
 *     for inputs; outputs must not overlap themselves.
 *   - Outputs are allocated by the caller. Scratch memory comes from the context's workspace.
 *   - On any error no output buffer has been written.
 *   - Option structs begin with struct_size = sizeof(the struct) so fields can be appended.
 *   - A context is used by one thread at a time; distinct contexts may run concurrently.
 */
#ifndef SEMIRING_KERNELS_H
#define SEMIRING_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SK_BUILDING_LIBRARY)
#define SK_API __attribute__((visibility("default")))
#else
#define SK_API
#endif

/* Version of this header. sk_abi_version() returns the value the library was built with; a
 * binding checks that they agree before any other call. */
#define SK_VERSION_MAJOR 0
#define SK_VERSION_MINOR 1
#define SK_VERSION_PATCH 0
#define SK_ABI_VERSION 1
#define SK_MAX_RANK 8
#define SK_DEVICE_NAME_CAPACITY 256

typedef enum sk_status {
    SK_OK = 0,
    SK_ERROR_INVALID_ARGUMENT = 1, /* a value is out of its allowed range */
    SK_ERROR_NULL_POINTER = 2,     /* a required pointer was NULL */
    SK_ERROR_SHAPE = 3,            /* wrong rank, mismatched or negative extents, bad strides */
    SK_ERROR_DTYPE = 4,            /* unsupported or mismatched element type */
    SK_ERROR_DEVICE = 5,           /* unknown device, wrong device, or no such CUDA device */
    SK_ERROR_UNSUPPORTED = 6,      /* a valid request this build or op does not support */
    SK_ERROR_OUT_OF_MEMORY = 7,    /* allocation failed or the workspace limit was reached */
    SK_ERROR_CUDA = 8,             /* a CUDA runtime call failed */
    SK_ERROR_INTERNAL = 9          /* a bug: please report it with the message */
} sk_status;

typedef enum sk_dtype {
    SK_DTYPE_FLOAT32 = 1,
    SK_DTYPE_FLOAT64 = 2,
    SK_DTYPE_INT32 = 3,
    SK_DTYPE_INT64 = 4
} sk_dtype;

typedef enum sk_device_type {
    SK_DEVICE_CPU = 0,
    SK_DEVICE_CUDA = 1
} sk_device_type;

/* The semirings (plus, times, zero, one):
 *   LOG     (logsumexp, +, -inf, 0)     MAX (max, +, -inf, 0)     MIN (min, +, +inf, 0)
 *   REAL    (+, *, 0, 1)                BOOLEAN (or, and, 0, 1) on values 0/1 (nonzero = 1) */
typedef enum sk_semiring {
    SK_SEMIRING_LOG = 0,
    SK_SEMIRING_MAX = 1,
    SK_SEMIRING_REAL = 2,
    SK_SEMIRING_MIN = 3,
    SK_SEMIRING_BOOLEAN = 4
} sk_semiring;

/* A strided view of caller memory. Element (i0, ..., i{rank-1}) lives at
 * data + sum_d i_d * strides[d] elements. Entries of shape/strides at or past rank are ignored. */
typedef struct sk_tensor {
    void *data;
    int32_t dtype;        /* sk_dtype */
    int32_t device_type;  /* sk_device_type */
    int32_t device_index; /* CUDA ordinal; 0 for CPU */
    int32_t rank;         /* 0 .. SK_MAX_RANK */
    int64_t shape[SK_MAX_RANK];
    int64_t strides[SK_MAX_RANK];
} sk_tensor;

typedef struct sk_device_info {
    char name[SK_DEVICE_NAME_CAPACITY];
    int32_t compute_capability_major;
    int32_t compute_capability_minor;
    int32_t multiprocessor_count;
    int32_t reserved;
    int64_t total_memory_bytes;
} sk_device_info;

/* Opaque: device, CUDA stream, caching workspace allocator, CPU thread pool, last error. */
typedef struct sk_context sk_context;

/* ---- version and capabilities (never fail) ---------------------------------------------- */
SK_API const char *sk_version_string(void);
SK_API int32_t sk_version_major(void);
SK_API int32_t sk_version_minor(void);
SK_API int32_t sk_version_patch(void);
SK_API int32_t sk_abi_version(void);
/* 1 when the library was built with CUDA, 0 otherwise. */
SK_API int32_t sk_cuda_compiled(void);
/* A fixed, human readable description of a status code. */
SK_API const char *sk_status_name(int32_t status);

/* ---- errors ------------------------------------------------------------------------------ */
/* The message of the calling thread's most recent failure ("" if none). Valid until that
 * thread's next failing call. */
SK_API const char *sk_last_error(void);
/* The message of the most recent failure of a call made with ctx ("" if none). */
SK_API const char *sk_context_last_error(const sk_context *ctx);
/* Copies the calling thread's last error into buf (NUL terminated, truncated to capacity).
 * Returns the full message length. */
SK_API int64_t sk_last_error_copy(char *buf, int64_t capacity);

/* ---- devices ----------------------------------------------------------------------------- */
/* Number of CUDA devices the driver reports; 0 (and SK_OK) without CUDA or without a driver. */
SK_API sk_status sk_cuda_device_count(int32_t *count);
/* Why CUDA is unusable ("" when it is usable): not compiled in, no driver, no device. */
SK_API const char *sk_cuda_unavailable_reason(void);
SK_API sk_status sk_cuda_device_info(int32_t device_index, sk_device_info *info);

/* ---- contexts ---------------------------------------------------------------------------- */
/* Creates a context on a device. For CUDA it creates a non-blocking stream on that device. */
SK_API sk_status sk_context_create(int32_t device_type, int32_t device_index, sk_context **out);
/* Destroys a context (NULL is accepted), freeing its workspace, stream and threads. */
SK_API sk_status sk_context_destroy(sk_context *ctx);
SK_API sk_status sk_context_device(const sk_context *ctx, int32_t *device_type,
                                   int32_t *device_index);
/* Number of CPU threads the context's pool uses (0 = hardware concurrency, the default). */
SK_API sk_status sk_context_set_num_threads(sk_context *ctx, int32_t num_threads);
SK_API sk_status sk_context_num_threads(const sk_context *ctx, int32_t *num_threads);
/* Upper bound for the workspace the context may hold (bytes, 0 = unlimited, the default).
 * An op that needs more fails with SK_ERROR_OUT_OF_MEMORY naming the need and the limit. */
SK_API sk_status sk_context_set_workspace_limit(sk_context *ctx, int64_t bytes);
/* Bytes currently held by the workspace cache, and releases the cache. */
SK_API sk_status sk_context_workspace_bytes(const sk_context *ctx, int64_t *bytes);
SK_API sk_status sk_context_release_workspace(sk_context *ctx);
/* Waits until all work queued on the context's stream is done (no-op for CPU). */
SK_API sk_status sk_context_synchronize(sk_context *ctx);

/* ---- memory ------------------------------------------------------------------------------ */
/* Allocates bytes on the context's device (host memory for CPU contexts, 256-byte aligned). */
SK_API sk_status sk_malloc(sk_context *ctx, int64_t bytes, void **out);
/* Frees memory from sk_malloc with the same context (NULL is accepted). */
SK_API sk_status sk_free(sk_context *ctx, void *ptr);
/* Copies bytes between host and device memory in any direction, ordered on the context's
 * stream; returns after the copy is complete. Device types are sk_device_type values. */
SK_API sk_status sk_memcpy(sk_context *ctx, void *dst, int32_t dst_device_type, const void *src,
                           int32_t src_device_type, int64_t bytes);

/* ---- batched semiring matrix multiply ---------------------------------------------------- */
typedef struct sk_matmul_options {
    int64_t struct_size; /* sizeof(sk_matmul_options) */
    int32_t semiring;    /* sk_semiring */
    int32_t reserved;    /* must be 0 */
} sk_matmul_options;

/* C[b] = A[b] (x) B[b]:  C[b,i,j] = PLUS_k TIMES(A[b,i,k], B[b,k,j]).
 *   a: (M, K) or (batch_a, M, K); b: (K, N) or (batch_b, K, N); c: (M, N) or (batch, M, N);
 *   c is rank 3 when a or b is; batch_a and batch_b are each 1 or batch (an operand of rank 2
 *   or batch extent 1 is shared by every product). Same dtype (float32 or float64) for a, b, c,
 *   all on the context's device.
 *   argmax: optional (NULL to skip) int32 tensor shaped like c, only for MAX and MIN: receives
 *   the k that attains C[b,i,j], the lowest such k on ties, -1 where C is the semiring zero
 *   (all terms -inf for MAX, +inf for MIN) or K = 0. NaN propagates: a NaN term wins.
 * K = 0 gives the semiring zero. */
SK_API sk_status sk_semiring_matmul(sk_context *ctx, const sk_matmul_options *options,
                                    const sk_tensor *a, const sk_tensor *b, sk_tensor *c,
                                    sk_tensor *argmax);

/* Vector-Jacobian product of sk_semiring_matmul given grad_c = dL/dC.
 *   REAL: grad_a = grad_c B^T, grad_b = A^T grad_c.
 *   LOG:  grad_a[i,k] = sum_j grad_c[i,j] exp(A[i,k] + B[k,j] - C[i,j]) (0 where C = -inf),
 *         grad_b likewise; c must be the forward output.
 *   MAX/MIN: grad_c[i,j] is routed to A[i,argmax] and B[argmax,j]; argmax is the forward's
 *         (pass NULL to have it recomputed); c is not read and may be NULL.
 *   BOOLEAN has no gradient (SK_ERROR_UNSUPPORTED).
 * grad_a / grad_b may be NULL to skip; each has its operand's shape, is overwritten (not
 * accumulated), and for a shared operand holds the sum over the batch (summed in batch order,
 * so results are deterministic). */
SK_API sk_status sk_semiring_matmul_backward(sk_context *ctx, const sk_matmul_options *options,
                                             const sk_tensor *a, const sk_tensor *b,
                                             const sk_tensor *c, const sk_tensor *argmax,
                                             const sk_tensor *grad_c, sk_tensor *grad_a,
                                             sk_tensor *grad_b);

/* ==== CTC family =================================================================== *
 * Connectionist temporal classification: loss, gradients, forced (Viterbi) alignment and state
 * posteriors, matching torch.nn.functional.ctc_loss wherever torch defines the behaviour.
 *
 * Shapes. B sequences, T frames, C classes (blank included), targets of at most S labels.
 *   log_probs (or logits): rank 3, float32 or float64. options.layout says how to read it:
 *       SK_CTC_LAYOUT_TIME_MAJOR  (T, B, C)  torch's layout (the default, value 0)
 *       SK_CTC_LAYOUT_BATCH_MAJOR (B, T, C)
 *     Any strides are accepted (a batch-major tensor can also be passed as a transposed
 *     time-major descriptor); nothing is copied.
 *   targets: int32 or int64, either padded, rank 2 (B, S) with S >= every target length (entries
 *     past a sequence's target length are ignored, whatever they hold), or concatenated, rank 1
 *     (sum of target_lengths) exactly as torch. Labels must lie in [0, C) and differ from blank.
 *   input_lengths, target_lengths: rank 1 (B), int32 or int64 (each independently);
 *     0 <= input_lengths[b] <= T, 0 <= target_lengths[b] (<= S when padded).
 *   targets and both length tensors may live in host memory or on the context's device. The
 *   library reads them on the host before any work is queued (it validates every label and
 *   length so that a bad value is an error, not an out-of-bounds read); with a CUDA context,
 *   device-resident ones are copied to the host first, and the small per-sequence tables are
 *   uploaded, so every CTC call synchronises the context's stream once before queuing kernels.
 *   The float tensors (log_probs, logits, grad_loss and every output) live on the context's
 *   device.
 *
 * Semantics (extended states [blank, y1, blank, y2, ..., yL, blank], 2L+1 of them; a repeated
 * label needs a blank between its copies; a sequence with input length T_b < L + (number of
 * adjacent equal labels) has no alignment):
 *   loss_b = -log sum over alignments of exp(sum_t log_probs[t, b, pi_t]), over frames
 *   t < input_lengths[b] only; frames at and past input_lengths[b] are never read.
 *   An empty target gives -sum_t log_probs[t, b, blank] (0 when input_lengths[b] is 0 too).
 *   A sequence without any alignment gets loss +inf (0 with zero_infinity) and a zero gradient
 *   (torch returns NaN gradients there unless zero_infinity; this library never does).
 *   reduction NONE: loss has shape (B); SUM: sum_b loss_b; MEAN: mean_b(loss_b / max(L_b, 1))
 *   (NaN when B = 0, as torch). SUM and MEAN write a scalar: rank 0, or rank 1 of extent 1.
 *
 * Precision. The CPU backend runs every recursion in float64 (also for float32 inputs) and
 * rounds only the outputs. The CUDA backend runs float64 inputs in float64 and float32 inputs
 * in float32 with the state vector renormalised every 16 frames: the subtracted maxima are
 * summed in float64, so float32 rounding is relative to the renormalised state values, not to
 * |log Z|, and the loss does not drift with T (T = 10^5 is tested). Posteriors are normalised
 * frame by frame (they sum to 1 over the states of every frame that has an alignment). Results
 * are bitwise reproducible run to run on one machine / device and independent of the CPU
 * thread count; float32 CPU and CUDA results agree to a few 1e-5 relative.
 * Limits: the CUDA backend handles targets of up to 8191 labels (16383 extended states;
 * SK_ERROR_UNSUPPORTED beyond), the CPU backend up to 2^30 - 1. Per thread, the CPU backward
 * keeps the forward rows of its sequence when they fit in 32 MiB, else about 2 sqrt(T) rows
 * (a checkpoint every ~sqrt(T) frames, one segment recomputed at a time).
 */

typedef enum sk_ctc_layout {
    SK_CTC_LAYOUT_TIME_MAJOR = 0,  /* (T, B, C), torch's layout */
    SK_CTC_LAYOUT_BATCH_MAJOR = 1  /* (B, T, C) */
} sk_ctc_layout;

typedef enum sk_ctc_reduction {
    SK_CTC_REDUCTION_NONE = 0, /* per-sequence losses, shape (B) */
    SK_CTC_REDUCTION_SUM = 1,  /* scalar sum */
    SK_CTC_REDUCTION_MEAN = 2  /* scalar mean of loss_b / max(target_length_b, 1), torch's 'mean' */
} sk_ctc_reduction;

/* Which gradient sk_ctc_loss_backward returns; u_b is the upstream gradient of sequence b
 * after the reduction (grad_loss[b] for NONE, g for SUM, g / (B max(L_b, 1)) for MEAN) and
 * gamma[t, b, c] the posterior probability that frame t emits class c (the occupancy of the
 * extended states whose label is c, summed).
 *   LOG_PROBS:     the true partial derivative of the loss w.r.t. log_probs:
 *                  grad[t, b, c] = -u_b gamma[t, b, c]  (0 for classes not in the target).
 *   FUSED_LOGITS:  torch's ctc_loss "gradient": grad[t, b, c] = u_b (exp(log_probs[t, b, c])
 *                  - gamma[t, b, c]). It equals the gradient w.r.t. the logits z only when
 *                  log_probs = log_softmax(z) over C; it is not the derivative w.r.t. log_probs.
 * Both: 0 at frames t >= input_lengths[b] and for sequences without an alignment. */
typedef enum sk_ctc_gradient {
    SK_CTC_GRADIENT_LOG_PROBS = 0,
    SK_CTC_GRADIENT_FUSED_LOGITS = 1
} sk_ctc_gradient;

/* Zero-initialise, then set struct_size: the defaults are time-major, blank 0, reduction NONE
 * (torch's default is MEAN: set it explicitly), zero_infinity off, gradient LOG_PROBS. */
typedef struct sk_ctc_options {
    int64_t struct_size;   /* sizeof(sk_ctc_options) */
    int32_t layout;        /* sk_ctc_layout of log_probs / logits / their gradients */
    int32_t blank;         /* blank class index, in [0, C) */
    int32_t reduction;     /* sk_ctc_reduction */
    int32_t zero_infinity; /* 0 or 1: infinite losses (no alignment) become 0 */
    int32_t gradient;      /* sk_ctc_gradient; read by sk_ctc_loss_backward only */
    int32_t reserved;      /* must be 0 */
} sk_ctc_options;

/* Forward: loss as described above, dtype of log_probs. */
SK_API sk_status sk_ctc_loss(sk_context *ctx, const sk_ctc_options *options,
                             const sk_tensor *log_probs, const sk_tensor *targets,
                             const sk_tensor *input_lengths, const sk_tensor *target_lengths,
                             sk_tensor *loss);

/* Backward: grad_log_probs (shape and layout of log_probs, overwritten everywhere, padding
 * frames included) receives the gradient selected by options.gradient for the upstream
 * gradient grad_loss (shape of the forward's loss: (B) for NONE, a scalar for SUM / MEAN).
 * The forward recursion is recomputed (nothing is kept between calls); loss may be NULL, or
 * receives the forward's loss as sk_ctc_loss would (so one call serves a training step).
 * Work space (CUDA): the forward and backward variables of every frame of the sequences being
 * processed, 2 * input_length_b * (2 L_b + 1) elements of the input dtype per sequence; the
 * batch is processed in groups of consecutive sequences whose variables fit in half the
 * context's workspace limit (1 GiB without a limit). sk_ctc_loss keeps none. */
SK_API sk_status sk_ctc_loss_backward(sk_context *ctx, const sk_ctc_options *options,
                                      const sk_tensor *log_probs, const sk_tensor *targets,
                                      const sk_tensor *input_lengths,
                                      const sk_tensor *target_lengths, const sk_tensor *grad_loss,
                                      sk_tensor *grad_log_probs, sk_tensor *loss);

/* Fused log-softmax + CTC: logits (layout as options.layout) are normalised over C
 * (log_probs = logits - logsumexp_c logits, never materialised), then the loss is computed and,
 * when grad_logits is not NULL, its gradient w.r.t. the logits for the upstream gradient
 * grad_loss: grad_logits[t, b, c] = u_b (softmax(logits)[t, b, c] - gamma[t, b, c]), 0 at
 * frames t >= input_lengths[b] and for sequences without an alignment. options.gradient is
 * ignored. grad_loss may be NULL only when grad_logits is NULL. */
SK_API sk_status sk_ctc_loss_fused_logits(sk_context *ctx, const sk_ctc_options *options,
                                          const sk_tensor *logits, const sk_tensor *targets,
                                          const sk_tensor *input_lengths,
                                          const sk_tensor *target_lengths,
                                          const sk_tensor *grad_loss, sk_tensor *loss,
                                          sk_tensor *grad_logits);

/* Forced alignment: the most probable alignment (Viterbi path over the extended states), as
 * torchaudio.functional.forced_align, batched. options.reduction / zero_infinity / gradient
 * are ignored.
 *   path (B, T) int32, required: the class of each frame (blank where the path is in a blank
 *     state), -1 at frames t >= input_lengths[b] and everywhere for sequences without an
 *     alignment.
 *   spans (B, W, 2) int32, optional, W >= max_b target_lengths[b]: spans[b, j] = [start, end)
 *     frames of target label j (end exclusive, as torchaudio's TokenSpan); -1, -1 for j >= L_b
 *     and for sequences without an alignment.
 *   frame_scores (B, T), dtype of log_probs, optional: log_probs[t, b, path[b, t]] (torchaudio's
 *     scores), 0 where path is -1.
 *   score (B), dtype of log_probs, optional: the path's log probability (sum of its frame
 *     scores, accumulated in float64), -inf without an alignment.
 * Ties (torchaudio's rule): entering state s, staying in s beats arriving from s-1, which
 * beats the skip from s-2; at the last frame the final label state beats the final blank.
 * A NaN candidate beats any number. */
SK_API sk_status sk_ctc_forced_align(sk_context *ctx, const sk_ctc_options *options,
                                     const sk_tensor *log_probs, const sk_tensor *targets,
                                     const sk_tensor *input_lengths,
                                     const sk_tensor *target_lengths, sk_tensor *path,
                                     sk_tensor *spans, sk_tensor *frame_scores,
                                     sk_tensor *score);

/* State posteriors ("soft alignment"): posteriors (B, T, W), dtype of log_probs, with
 * W >= 2 max_b target_lengths[b] + 1, receives P(state s at frame t | targets) for the
 * extended state s (even s: the blank before label s/2; odd s: label (s-1)/2). Entries with
 * s >= 2 L_b + 1 or t >= input_lengths[b], and whole sequences without an alignment, are 0.
 * Per frame the posteriors sum to 1; summing those of the odd states of one label position j
 * over t gives its expected duration. options.reduction / zero_infinity / gradient are
 * ignored. */
SK_API sk_status sk_ctc_posteriors(sk_context *ctx, const sk_ctc_options *options,
                                   const sk_tensor *log_probs, const sk_tensor *targets,
                                   const sk_tensor *input_lengths,
                                   const sk_tensor *target_lengths, sk_tensor *posteriors);

/* ==== end of the CTC family ============================================================== */
/* ==== HMM family: forward-backward, posteriors, Viterbi ===================================== */
/* B sequences of at most T positions over N states, all scores in log space; lengths[b] in
 * [1, T] says how many positions sequence b has (positions t >= lengths[b] are never read,
 * whatever they hold, NaN included). Two input forms:
 *
 *   EDGE (sk_hmm_edge_*): potentials (B, T, N, N); potentials[b,t,i,j] scores moving from
 *   state i at position t-1 to state j at t (1 <= t < lengths[b]). The start (position 0):
 *     SK_HMM_INITIAL_SEPARATE: alpha_0[j] = initial[j] with initial (N) shared by the batch
 *       or (B, N); potentials[:, 0] is not read (its gradient is 0).
 *     SK_HMM_INITIAL_ROW0 (hmm-backprop's convention): alpha_0[j] = potentials[b,0,0,j];
 *       initial must be NULL; rows 1..N-1 of potentials[:, 0] are not read (gradient 0).
 *   FACTORED (sk_hmm_factored_*): initial (N) or (B, N), transition (N, N) or (B, N, N) with
 *   rows = from state, emission (B, T, N). Never builds a B*T*N*N tensor:
 *     alpha_0[j] = initial[j] + emission[b,0,j],
 *     alpha_t[j] = (+)_i (alpha_{t-1}[i] + transition[i,j]) + emission[b,t,j].
 *
 * Semirings (options.semiring): SK_SEMIRING_LOG, (+) = logsumexp: the log-partition
 * log Z_b = logsumexp_j alpha_{L-1}[j] (the log-likelihood for a normalised HMM);
 * SK_SEMIRING_MAX, (+) = max: the Viterbi score. Other semirings are rejected.
 *
 * Conventions shared by every entry point:
 *   - All float tensors have one dtype (float32 or float64) and live on the context's device;
 *     any non-negative strides. lengths is int32 or int64, rank 1 (B), and may live in host
 *     memory for any context, or on the context's CUDA device (then it is copied to the host
 *     for validation, which waits for the context's stream).
 *   - N >= 1. A CUDA context accepts N <= 4096 (SK_ERROR_UNSUPPORTED above).
 *   - -inf scores are exact: impossible transitions and dead states are allowed; a sequence
 *     with no feasible path has log-partition / score -inf, zero gradients and marginals,
 *     and Viterbi path -1 throughout. NaN in a read entry makes that sequence's result NaN
 *     (and its marginals and gradients over the entries it reads); other sequences are
 *     unaffected, except through the batch sums of shared parameters.
 *   - MAX ties go to the lowest state index: the best final state is the lowest one attaining
 *     the score and each earlier state is the lowest best predecessor of the next.
 *   - Precision: every step works on a vector normalised by its maximum, in the input dtype,
 *     while the accumulated normaliser (the running log-partition) is float64, so float32
 *     results do not drift with T. Posteriors are normalised per position (by the
 *     log-sum-exp of that position's terms), not by the log-partition, so rounding stays local.
 *     Sums over time and over the batch (transition counts, shared initial/transition
 *     gradients) accumulate in float64 and are rounded once. Tested at T = 10^5: float32 vs
 *     float64 log-partition within 1e-6 relative, posteriors within 1e-6 absolute.
 *   - Results are deterministic (no float atomics) and independent of the thread count on CPU.
 *   - Memory: forward O(B*N) beyond the inputs (the CPU adds an N*N staging matrix per thread
 *     when the last dimension of potentials / transition is not contiguous); marginals,
 *     backward and Viterbi O(B*T*N); the CUDA factored backward adds O(B*N*N) float64 for the
 *     transition counts.
 */
typedef enum sk_hmm_initial_convention {
    SK_HMM_INITIAL_SEPARATE = 0,
    SK_HMM_INITIAL_ROW0 = 1
} sk_hmm_initial_convention;

typedef struct sk_hmm_options {
    int64_t struct_size;        /* sizeof(sk_hmm_options) */
    int32_t semiring;           /* SK_SEMIRING_LOG or SK_SEMIRING_MAX */
    int32_t initial_convention; /* sk_hmm_initial_convention; the factored form needs SEPARATE */
} sk_hmm_options;

/* log_partition (B): log Z_b (LOG) or the best path score (MAX). */
SK_API sk_status sk_hmm_edge_forward(sk_context *ctx, const sk_hmm_options *options,
                                     const sk_tensor *potentials, const sk_tensor *initial,
                                     const sk_tensor *lengths, sk_tensor *log_partition);
SK_API sk_status sk_hmm_factored_forward(sk_context *ctx, const sk_hmm_options *options,
                                         const sk_tensor *initial, const sk_tensor *transition,
                                         const sk_tensor *emission, const sk_tensor *lengths,
                                         sk_tensor *log_partition);

/* Vector-Jacobian product of the forward: gradients of sum_b grad_log_partition[b] * log Z_b
 * (any signs) w.r.t. every input; each gradient output is optional (NULL skips it), shaped
 * like its input, and overwritten.
 *   LOG: grad_potentials[b,t,i,j] = g_b P_b(z_{t-1}=i, z_t=j) for 1 <= t < L_b (the edge
 *        marginals); under ROW0 grad_potentials[b,0,0,j] = g_b P_b(z_0=j);
 *        grad_initial[j] = g_b P_b(z_0=j); grad_emission[b,t,j] = g_b P_b(z_t=j);
 *        grad_transition[i,j] = g_b sum_t P_b(z_{t-1}=i, z_t=j) (expected transition counts).
 *   MAX: the same with the posteriors replaced by the indicator of the Viterbi path.
 *   A shared initial (N) or transition (N, N) gets the sum over the batch, in batch order.
 *   Entries that are not read (past the lengths, potentials[:, 0] under SEPARATE, rows 1..
 *   of potentials[:, 0] under ROW0) get 0. With grad_log_partition = 1 these are the
 *   Baum-Welch statistics (expected initial, transition and per-position state counts). */
SK_API sk_status sk_hmm_edge_backward(sk_context *ctx, const sk_hmm_options *options,
                                      const sk_tensor *potentials, const sk_tensor *initial,
                                      const sk_tensor *lengths,
                                      const sk_tensor *grad_log_partition,
                                      sk_tensor *grad_potentials, sk_tensor *grad_initial);
SK_API sk_status sk_hmm_factored_backward(sk_context *ctx, const sk_hmm_options *options,
                                          const sk_tensor *initial, const sk_tensor *transition,
                                          const sk_tensor *emission, const sk_tensor *lengths,
                                          const sk_tensor *grad_log_partition,
                                          sk_tensor *grad_initial, sk_tensor *grad_transition,
                                          sk_tensor *grad_emission);

/* marginals (B, T, N): LOG: posterior state marginals P_b(z_t = j) (each position sums to 1);
 * MAX: the one-hot of the Viterbi path (NaN over the length of a NaN sequence). 0 past the
 * lengths. log_partition (B), optional, receives the forward's result as well. */
SK_API sk_status sk_hmm_edge_marginals(sk_context *ctx, const sk_hmm_options *options,
                                       const sk_tensor *potentials, const sk_tensor *initial,
                                       const sk_tensor *lengths, sk_tensor *marginals,
                                       sk_tensor *log_partition);
SK_API sk_status sk_hmm_factored_marginals(sk_context *ctx, const sk_hmm_options *options,
                                           const sk_tensor *initial, const sk_tensor *transition,
                                           const sk_tensor *emission, const sk_tensor *lengths,
                                           sk_tensor *marginals, sk_tensor *log_partition);

/* Viterbi: options.semiring must be SK_SEMIRING_MAX. best_score (B) and best_path (B, T)
 * int32 (state per position, -1 past the length and for sequences whose score is -inf or
 * NaN) are each optional. */
SK_API sk_status sk_hmm_edge_viterbi(sk_context *ctx, const sk_hmm_options *options,
                                     const sk_tensor *potentials, const sk_tensor *initial,
                                     const sk_tensor *lengths, sk_tensor *best_score,
                                     sk_tensor *best_path);
SK_API sk_status sk_hmm_factored_viterbi(sk_context *ctx, const sk_hmm_options *options,
                                         const sk_tensor *initial, const sk_tensor *transition,
                                         const sk_tensor *emission, const sk_tensor *lengths,
                                         sk_tensor *best_score, sk_tensor *best_path);
/* ==== end of the HMM family ================================================================ */

/* ==== Semifield convolution family ========================================================== */
/* N-D (1, 2 or 3 spatial dimensions) convolution and correlation over a semifield, as in
 * pytorch_nd_semiconv, with gradients, quadratic (morphological) kernels and closings.
 *
 * Shapes (r = options.spatial_rank in 1..3, every tensor of rank 2 + r, any non-negative
 * strides, float32 or float64, one dtype throughout, all on the context's device):
 *   input  (B, C_in, n_1 .. n_r)
 *   kernel (K_out, C_in / groups, k_1 .. k_r)
 *   output (B, C_out, m_1 .. m_r)
 * Groups: C_in must be divisible by groups (G). Without group broadcasting K_out = C_out and
 * G divides C_out: output channel o belongs to group g = o / (C_out / G), reads the input
 * channels g (C_in/G) .. (g+1)(C_in/G) - 1 and kernel row o. With group broadcasting
 * (options.group_broadcast = 1) one kernel group is applied to every input group:
 * C_out = G K_out and output channel o uses kernel row o mod K_out (pytorch_nd_semiconv's
 * group_broadcasting).
 *
 * Geometry, per spatial axis a with input extent n, kernel extent k, stride s >= 1,
 * dilation d >= 1 and padding p_begin, p_end >= 0:
 *   m = floor((n + p_begin + p_end - d (k - 1) - 1) / s) + 1, which must be >= 1.
 * Tap t in [0, k) of output position y reads input position i = y s - p_begin + d t.
 * kind CORRELATION uses kernel element t there; kind CONVOLUTION uses kernel element k-1-t
 * (the kernel is mirrored, pytorch_nd_semiconv's "conv"). Padding modes:
 *   EXPLICIT: options.padding_begin / padding_end per axis (the "int", "per axis" and
 *             "((begin, end), ...)" forms of the reference all map to this);
 *   VALID:    no padding;
 *   SAME:     computed as for stride 1: total d (k - 1), p_begin = total / 2 (rounded down),
 *             p_end = total - p_begin (the odd extra at the end); with stride s > 1 the output
 *             has ceil(n / s) positions.
 * Padded taps (i outside [0, n)) are skipped exactly: they contribute the semifield's zero, and
 * never a term, a NaN, a provenance or a gradient.
 *
 * Semifields (a (+) b, x (x) w, zero), output[b, o, y] = (+) over the input channels c of o's group
 * and every non-padded tap t of input[b, c, i(y, t)] (x) kernel[row(o), c, tap(t)]:
 *   TROPICAL_MAX (T+): (max, x + w, -inf)   - dilation; max pooling with an all-zero kernel.
 *   TROPICAL_MIN (T-): (min, x - w, +inf)   - erosion with the negated kernel.
 *   LINEAR:            (+, x * w, 0)        - ordinary convolution.
 *   ROOT (R_p):        (a (+) b = (a^p + b^p)^(1/p), x * w, 0 for p > 0 and +inf for p < 0),
 *                      p = options.p != 0; input and kernel must be >= 0 (checked; a negative
 *                      value is SK_ERROR_INVALID_ARGUMENT naming 'input' or 'kernel', which
 *                      for a CUDA context costs one scan and one wait on the stream). Computed
 *                      scaled: m (sum (v/m)^p)^(1/p) with m the dominant term (largest for
 *                      p > 0, smallest for p < 0), so no power overflows. A zero term decides
 *                      the result for p < 0 (the output is 0); +inf decides it for p > 0.
 *   LOG (L_mu):        (a (+) b = (1/mu) log(exp(mu a) + exp(mu b)), x + w, -inf for mu > 0 and
 *                      +inf for mu < 0), mu = options.mu != 0, either sign (mu -> +inf tends
 *                      to T+, mu -> -inf to a min). Computed as a max-shifted log-sum-exp of
 *                      mu (x + w), so exp never overflows.
 * A window whose taps are all padding gives the zero. NaN in a read input or kernel value
 * propagates to the output (for the tropical semifields a NaN term wins and is the provenance).
 * channels_add = 1 (tropical semifields only): the input channels are combined by plain
 * addition instead of (+): output[b, o, y] = sum_c ((+)_t input[b, c, i] (x) kernel[row(o), c, t]);
 * a channel whose window is all padding adds the zero (-inf for T+, +inf for T-).
 * Accumulation is in the input dtype, in a fixed order: channel, then taps in increasing input
 * position (row-major over the spatial axes); results are deterministic run to run and
 * independent of the CPU thread count.
 *
 * Provenance (tropical semifields): int32, the index of the winning term, the first one in
 * the order above on ties (for CORRELATION that is the lowest kernel index; for CONVOLUTION
 * the lowest input position), -1 when no term beats the zero (all taps padding, or every term
 * -inf for T+ / +inf for T-). The index is c (k_1 ... k_r) + the row-major flat index of the
 * kernel element (the mirrored element for CONVOLUTION), c the channel within the group.
 * Shape: the output's, or with channels_add (B, C_out, C_in / groups, m_1 .. m_r) holding,
 * per channel, the flat kernel-element index alone.
 */
typedef enum sk_semifield {
    SK_SEMIFIELD_TROPICAL_MAX = 0,
    SK_SEMIFIELD_TROPICAL_MIN = 1,
    SK_SEMIFIELD_LINEAR = 2,
    SK_SEMIFIELD_ROOT = 3,
    SK_SEMIFIELD_LOG = 4
} sk_semifield;

typedef enum sk_semiconv_padding {
    SK_SEMICONV_PADDING_EXPLICIT = 0, /* padding_begin / padding_end */
    SK_SEMICONV_PADDING_VALID = 1,    /* none */
    SK_SEMICONV_PADDING_SAME = 2      /* d (k - 1) in total, the odd extra at the end */
} sk_semiconv_padding;

typedef enum sk_semiconv_kind {
    SK_SEMICONV_CONVOLUTION = 0, /* mirrored kernel (pytorch_nd_semiconv's default "conv") */
    SK_SEMICONV_CORRELATION = 1  /* kernel as given ("corr") */
} sk_semiconv_kind;

/* Zero-initialise, set struct_size, then at least spatial_rank, groups (>= 1) and, for the
 * first spatial_rank axes, stride and dilation (>= 1 each: 0 is an error, not a default).
 * Entries of the per-axis arrays at and past spatial_rank are ignored. */
typedef struct sk_semiconv_options {
    int64_t struct_size;      /* sizeof(sk_semiconv_options) */
    int32_t semifield;        /* sk_semifield */
    int32_t spatial_rank;     /* 1, 2 or 3 */
    int32_t kind;             /* sk_semiconv_kind */
    int32_t padding_mode;     /* sk_semiconv_padding */
    int32_t groups;           /* >= 1, divides C_in (and C_out without group broadcasting) */
    int32_t group_broadcast;  /* 0 or 1, see above */
    int32_t channels_add;     /* 0 or 1; 1 only with TROPICAL_MAX / TROPICAL_MIN */
    int32_t reserved;         /* must be 0 */
    double p;                 /* ROOT: the power, != 0 and finite; ignored otherwise */
    double mu;                /* LOG: the temperature, != 0 and finite; ignored otherwise */
    int64_t stride[3];        /* per spatial axis, >= 1 */
    int64_t dilation[3];      /* per spatial axis, >= 1 */
    int64_t padding_begin[3]; /* per spatial axis, >= 0; EXPLICIT mode only */
    int64_t padding_end[3];   /* per spatial axis, >= 0; EXPLICIT mode only */
} sk_semiconv_options;

/* Forward. output (B, C_out, m_1 .. m_r) as above. provenance: optional (NULL to skip), int32,
 * tropical semifields only (SK_ERROR_INVALID_ARGUMENT otherwise); shape as described above. */
SK_API sk_status sk_semiconv_forward(sk_context *ctx, const sk_semiconv_options *options,
                                     const sk_tensor *input, const sk_tensor *kernel,
                                     sk_tensor *output, sk_tensor *provenance);

/* Vector-Jacobian product given grad_output = dL/d output (shape of the output). grad_input
 * (shape of input) and grad_kernel (shape of kernel) are each optional (NULL skips) and
 * overwritten; a kernel row shared by several output channels (group broadcasting) gets the
 * sum over them. Every sum is a gather in a fixed order (no atomics): deterministic.
 *   TROPICAL_MAX / MIN: grad_output[b, o, y] goes to the provenance's term only: +g to its input
 *     element, +g (T+) or -g (T-) to its kernel element; nothing where the provenance is -1.
 *     provenance: the forward's, or NULL to have it recomputed into the workspace. Entries that
 *     name no non-padded tap of their window route nothing. output is not read (may be NULL).
 *   LINEAR: d/dx = w, d/dw = x per term; output and provenance are not read (may be NULL).
 *   ROOT: each term v = x w gets weight (v / out)^(p - 1) (the derivative of out w.r.t. v),
 *     times w for the input and x for the kernel; 0 where out is 0 or infinite, and for terms
 *     with v = 0 when p < 1 (where the derivative is unbounded).
 *   LOG: each term v = x + w gets weight exp(mu (v - out)) (its softmax share), for input and
 *     kernel alike; 0 where out is infinite.
 *   ROOT and LOG recompute each weight from output, the forward's result (NULL: recomputed into
 *   the workspace), rather than storing the unfolded input. A NaN output or term gives NaN
 *   gradients for the elements it touches. */
SK_API sk_status sk_semiconv_backward(sk_context *ctx, const sk_semiconv_options *options,
                                      const sk_tensor *input, const sk_tensor *kernel,
                                      const sk_tensor *output, const sk_tensor *provenance,
                                      const sk_tensor *grad_output, sk_tensor *grad_input,
                                      sk_tensor *grad_kernel);

/* Closing: the dilation (TROPICAL_MAX with the options' geometry) followed by the erosion
 * (TROPICAL_MIN) with exactly adjoint offsets: if the dilation reads input position
 * y - p_begin + d t for kernel element w_t, the erosion of its result D reads
 * D[z + p_begin - d t] - w_t (the opposite kind, padding begin and end swapped), so that
 * closing(x) >= x everywhere (extensive) for any kernel, even extents included
 * (pytorch_nd_semiconv's conv-then-corr closing is misaligned by one position for even kernels
 * and is not extensive). In floating point the bound holds up to the rounding of (x + w) - w:
 * exactly where those sums are representable, else within a few ulps.
 * Requirements: options.semifield TROPICAL_MAX, channels_add 0, stride 1 on every axis, padding
 * totals p_begin + p_end = d (k - 1) per axis (SAME, or EXPLICIT with that total), and
 * depthwise: groups = C_in with kernel (C_in, 1, k..) or, with group broadcasting, (1, 1, k..).
 * output has the input's shape. Scratch: one tensor of the input's size from the workspace. */
SK_API sk_status sk_semiconv_closing(sk_context *ctx, const sk_semiconv_options *options,
                                     const sk_tensor *input, const sk_tensor *kernel,
                                     sk_tensor *output);

/* Quadratic (morphological) 2-D kernels. For a kernel of spatial extent (kh, kw) the grid
 * offsets are u = (y, x) = (i - (kh-1)/2, j - (kw-1)/2) (row, column; half-integers for even
 * extents) and the value is -u^T S^-1 u (<= 0, 0 at the centre). params (N0, N1, P) and
 * kernel (N0, N1, kh, kw), float32 or float64, on the context's device; one quadratic per
 * (N0, N1) pair (the shape of a semiconv kernel: (K_out, C_in / groups)).
 *   ISOTROPIC   (P = 1): (log s);                S = s^2 I.
 *   ANISOTROPIC (P = 3): (theta, log s1, log s2); S = R(theta) diag(s1^2, s2^2) R(theta)^T,
 *                        R(theta) = [[cos, -sin], [sin, cos]]; with theta = 0, s1 acts on the
 *                        row (y) axis and s2 on the column (x) axis.
 *   CHOLESKY    (P = 3): (log s1, log s2, r);     rho = tanh(r), S = [[s1^2, rho s1 s2],
 *                        [rho s1 s2, s2^2]] = L L^T with L = [[s1, 0], [rho s2,
 *                        sqrt(1 - rho^2) s2]], so u^T S^-1 u = |L^-1 u|^2. */
typedef enum sk_quadratic_form {
    SK_QUADRATIC_ISOTROPIC = 0,
    SK_QUADRATIC_ANISOTROPIC = 1,
    SK_QUADRATIC_CHOLESKY = 2
} sk_quadratic_form;

SK_API sk_status sk_quadratic_kernel(sk_context *ctx, int32_t form, const sk_tensor *params,
                                     sk_tensor *kernel);

/* grad_params (N0, N1, P), overwritten: sum over the grid of grad_kernel times the derivative
 * of each kernel value w.r.t. each parameter (a per-pair sum in a fixed order). */
SK_API sk_status sk_quadratic_kernel_backward(sk_context *ctx, int32_t form,
                                              const sk_tensor *params,
                                              const sk_tensor *grad_kernel,
                                              sk_tensor *grad_params);
/* ==== end of the semifield convolution family ============================================== */

#ifdef __cplusplus
}
#endif

#endif /* SEMIRING_KERNELS_H */
