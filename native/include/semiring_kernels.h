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
 * Precision. Both backends run every recursion in float64 (also for float32 inputs) and round
 * only the outputs, so the loss does not drift with T (T = 10^5 is tested) and the posteriors of
 * states far below the running maximum keep their precision. Posteriors are normalised frame by
 * frame (they sum to 1 over the states of every frame that has an alignment). Results are
 * bitwise reproducible run to run on one machine / device and independent of the CPU thread
 * count; float32 CPU and CUDA results agree to the float32 rounding of the outputs.
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
 * processed, 2 * input_length_b * (2 L_b + 1) float64 values per sequence; the
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
/* ==== Semi-CRF family: streaming semi-Markov CRF =========================================== */
/* B sequences of at most T positions, C labels, segments of duration 1..K. lengths[b] in [1, T]
 * is the number L_b of positions of sequence b; nothing at or past a sequence's length is read
 * (scores rows t >= L_b, cumulative rows t > L_b, proj_start / proj_end rows t >= L_b may hold
 * anything, NaN included).
 *
 * A segmentation of sequence b is a list of segments [s, e) with label c, 1 <= e - s <= K, that
 * tile [0, L_b) in order. Its score is the sum over its segments of
 *     cum[e, c] - cum[s, c]                       (content)
 *   + duration_bias[e - s - 1, c]                 (duration k = e - s uses row k - 1)
 *   + proj_start[s, c] + proj_end[e - 1, c]       (optional boundary scores, 0 when NULL)
 *   + transition[c_prev, c]  (transition[e - s - 1, c_prev, c] when transition is (K, C, C):
 *                             indexed by the duration of the segment being entered)
 * where the first segment of the sequence takes start[c] (0 when start is NULL) instead of a
 * transition. With options.flash_semicrf_compat = 1 the first segment takes, as flash-semicrf
 * does, a transition from a free previous label whose forward value is 0 for every label:
 * (+)_{c'} transition[c', c] (transition[e - s - 1, c', c] for a (K, C, C) transition), plus
 * start[c] when start is given. Nothing else changes (flash-semicrf's partition has no start).
 *
 * Inputs (float tensors all of one dtype, float32 or float64, on the context's device, any
 * non-negative strides):
 *   scores: options.input = SK_SEMICRF_INPUT_SCORES: per-position scores x (B, T, C); the
 *     library builds cum[0, c] = 0, cum[t, c] = sum_{u<t} x[u, c] in float64 itself.
 *     options.input = SK_SEMICRF_INPUT_CUMULATIVE: ready cumulative scores cum (B, T+1, C) (for
 *     example flash-semicrf's cum_scores); only differences cum[e] - cum[s] enter, each formed
 *     in float64 from the stored values (a float32 cum of magnitude 1e6 keeps its own rounding
 *     of about 0.06, the library adds none).
 *   transition: (C, C) (rows = from, columns = to) or (K, C, C), required.
 *   duration_bias: (K, C), required; K = its first extent (K may exceed T: durations longer
 *     than a sequence simply never occur).
 *   start: (C), optional (NULL = 0).  proj_start, proj_end: (B, T, C), optional (NULL = 0).
 *   lengths: (B), int32 or int64, in host memory or on the context's device (then copied to
 *     the host for validation, which waits for the context's stream).
 * options.zero_centre = 1 (SCORES only; off by default) replaces x[u, c] by
 *   x[u, c] - (1 / L_b) sum_{v < L_b} x[v, c] before the cumulative sum. This changes the model
 *   (it moves the duration prior of a segment of duration k by -k * mean): it is a
 *   preprocessing option, not a numerical device. Gradients are w.r.t. the uncentred x (the
 *   centring is differentiated through).
 *
 * Semirings (options.semiring): SK_SEMIRING_LOG, (+) = logsumexp, the log-partition
 * log Z_b = logsumexp over segmentations of their scores; SK_SEMIRING_MAX, (+) = max, the best
 * segmentation score. Other semirings are rejected.
 *
 * Conventions shared by every entry point:
 *   - Exactness of -inf: -inf transitions forbid label pairs, -inf duration_bias entries forbid
 *     durations. A sequence without any feasible segmentation has log-partition / score -inf,
 *     marginals 0, Viterbi segment count 0 and label path -1, and gradients 0, or NaN when
 *     options.infeasible_gradient = SK_SEMICRF_INFEASIBLE_GRADIENT_NAN. NaN in an entry that a
 *     sequence reads makes that sequence's results NaN; other sequences are unaffected except
 *     through the batch sums of the shared parameters.
 *   - MAX ties: the lowest final label, and for each segment end the shortest duration, then
 *     the lowest previous label. A NaN candidate beats any number.
 *   - Precision: every recursion, cumulative sum and accumulation runs in float64 on both
 *     backends, also for float32 inputs; outputs are rounded once. Results are deterministic
 *     (no float atomics), independent of the CPU thread count; CPU and CUDA agree to about
 *     1e-12 relative in float64.
 *   - Cost: static transitions use the factorised recursion
 *       gamma_s(c) = (+)_{c'} alpha_s(c') + transition[c', c]   (gamma_0(c) = the start term)
 *       alpha_t(c) = cum[t, c] + (+)_{k} (gamma_{t-k}(c) - cum[t-k, c] + proj_start[t-k, c]
 *                    + duration_bias[k-1, c]) + proj_end[t-1, c]
 *     in O(L (K C + C^2)) time; a (K, C, C) transition takes O(L K C^2). The B*T*K*C*C edge
 *     tensor is never built. Memory: the forward keeps a K x C ring per sequence (on chip on
 *     CUDA when it fits) besides the float64 cumulative scores ((L + 1) x C per sequence);
 *     backward, marginals and the label-sequence gold score keep O(L C) float64 per sequence;
 *     Viterbi O(L C) float64 plus 3 (L + 1) C int32 back-pointers. The CUDA backend runs one
 *     thread block per sequence (up to 256 threads over the labels) and takes its scratch for
 *     the whole batch from the context's workspace.
 */
typedef enum sk_semicrf_input {
    SK_SEMICRF_INPUT_SCORES = 0,     /* per-position scores (B, T, C) */
    SK_SEMICRF_INPUT_CUMULATIVE = 1  /* cumulative scores (B, T+1, C) */
} sk_semicrf_input;

typedef enum sk_semicrf_infeasible_gradient {
    SK_SEMICRF_INFEASIBLE_GRADIENT_ZERO = 0, /* gradients of a -inf log-partition are 0 */
    SK_SEMICRF_INFEASIBLE_GRADIENT_NAN = 1   /* ... are NaN (to make infeasible data visible) */
} sk_semicrf_infeasible_gradient;

/* Zero-initialise, then set struct_size and semiring: the defaults are per-position scores,
 * no centring, the exact (non-flash) start convention, zero gradients for infeasible data. */
typedef struct sk_semicrf_options {
    int64_t struct_size;          /* sizeof(sk_semicrf_options) */
    int32_t semiring;             /* SK_SEMIRING_LOG or SK_SEMIRING_MAX */
    int32_t input;                /* sk_semicrf_input */
    int32_t zero_centre;          /* 0 or 1, SK_SEMICRF_INPUT_SCORES only */
    int32_t flash_semicrf_compat; /* 0 or 1: flash-semicrf's first-segment transition */
    int32_t infeasible_gradient;  /* sk_semicrf_infeasible_gradient */
    int32_t reserved;             /* must be 0 */
} sk_semicrf_options;

/* log_partition (B): log Z_b (LOG) or the best segmentation score (MAX). */
SK_API sk_status sk_semicrf_forward(sk_context *ctx, const sk_semicrf_options *options,
                                    const sk_tensor *scores, const sk_tensor *transition,
                                    const sk_tensor *duration_bias, const sk_tensor *start,
                                    const sk_tensor *proj_start, const sk_tensor *proj_end,
                                    const sk_tensor *lengths, sk_tensor *log_partition);

/* Vector-Jacobian product of the forward: gradients of sum_b grad_log_partition[b] * log Z_b
 * (any signs) w.r.t. every input; each gradient output is optional (NULL skips it), shaped
 * like its input (grad_start / grad_proj_* must be NULL when the input is), overwritten.
 * With mu(s, e, c) the posterior probability of segment [s, e) with label c (LOG), or the
 * indicator of the Viterbi segmentation's segments (MAX), and g_b = grad_log_partition[b]:
 *   grad_scores (SCORES): g_b P_b(label c covers position u) = g_b sum_{t > u} d log Z /
 *     d cum[t, c] (minus its mean over u < L_b when zero_centre is on); 0 for u >= L_b.
 *   grad_scores (CUMULATIVE): g_b (sum_s mu(s, t, c) - sum_e mu(t, e, c)) for t <= L_b, 0 after.
 *   grad_duration_bias[k-1, c] = sum_b g_b sum_s mu(s, s+k, c);
 *   grad_start[c] = sum_b g_b P_b(first segment has label c);
 *   grad_transition[c', c] = sum_b g_b E_b[number of c' -> c transitions] (indexed by the
 *     entered segment's duration for a (K, C, C) transition; under flash_semicrf_compat the
 *     first segment adds its share of the free previous label: softmax over c' (LOG) or the
 *     lowest argmax (MAX));
 *   grad_proj_start[b, s, c] = g_b sum_e mu(s, e, c); grad_proj_end[b, e-1, c] = g_b sum_s mu(s, e, c).
 * Shared parameters (transition, duration_bias, start) get sums over the batch in batch
 * order. log_partition (B), optional, receives the forward's result as well. */
SK_API sk_status sk_semicrf_backward(sk_context *ctx, const sk_semicrf_options *options,
                                     const sk_tensor *scores, const sk_tensor *transition,
                                     const sk_tensor *duration_bias, const sk_tensor *start,
                                     const sk_tensor *proj_start, const sk_tensor *proj_end,
                                     const sk_tensor *lengths, const sk_tensor *grad_log_partition,
                                     sk_tensor *grad_scores, sk_tensor *grad_transition,
                                     sk_tensor *grad_duration_bias, sk_tensor *grad_start,
                                     sk_tensor *grad_proj_start, sk_tensor *grad_proj_end,
                                     sk_tensor *log_partition);

/* Viterbi segmentation: options.semiring must be SK_SEMIRING_MAX. Every output is optional:
 *   best_score (B), dtype of the scores;
 *   segments (B, S, 3) int32 with S >= max_b lengths[b]: rows [start, end, label] (end
 *     exclusive) of the best segmentation in order, rows j >= segment_counts[b] are -1;
 *   segment_counts (B) int32, required when segments is given: the number of segments
 *     (0 when the best score is -inf or NaN);
 *   label_path (B, T) int32: the label of the segment covering each position, -1 for
 *     t >= L_b and for sequences without a segmentation. */
SK_API sk_status sk_semicrf_viterbi(sk_context *ctx, const sk_semicrf_options *options,
                                    const sk_tensor *scores, const sk_tensor *transition,
                                    const sk_tensor *duration_bias, const sk_tensor *start,
                                    const sk_tensor *proj_start, const sk_tensor *proj_end,
                                    const sk_tensor *lengths, sk_tensor *best_score,
                                    sk_tensor *segments, sk_tensor *segment_counts,
                                    sk_tensor *label_path);

/* Marginals, each optional, dtype of the scores, 0 at positions t >= L_b:
 *   boundary (B, T): P(a segment starts at t) = sum over segments starting at t of their
 *     marginal (1 at t = 0 for every feasible sequence);
 *   coverage (B, T, C): P(label c covers position u), computed exactly as the reverse
 *     cumulative sum sum_{t > u} d log Z / d cum[t, c] (it sums to 1 over c at every u < L_b).
 * MAX gives the indicators of the Viterbi segmentation. log_partition (B), optional, receives
 * the forward's result. */
SK_API sk_status sk_semicrf_marginals(sk_context *ctx, const sk_semicrf_options *options,
                                      const sk_tensor *scores, const sk_tensor *transition,
                                      const sk_tensor *duration_bias, const sk_tensor *start,
                                      const sk_tensor *proj_start, const sk_tensor *proj_end,
                                      const sk_tensor *lengths, sk_tensor *boundary,
                                      sk_tensor *coverage, sk_tensor *log_partition);

/* Score of given gold annotations under the same scoring function as the partition, so that
 * NLL_b = log_partition[b] - score[b] >= 0. Give exactly one of:
 *   gold_segments (B, S, 3) int32 or int64 rows [start, end, label] with gold_segment_counts
 *     (B) int32 or int64: segments 0 .. n_b - 1 must tile [0, L_b) in order (the first starts
 *     at 0, each starts where the previous ended, the last ends at L_b), with durations in
 *     [1, K] and labels in [0, C); rows past n_b are ignored. The score is that
 *     segmentation's score (compat: its free previous label is summed (LOG) or maximised (MAX)).
 *   gold_labels (B, T) int32 or int64, a label in [0, C) per position t < L_b (ignored after):
 *     a labelling does not fix the segment boundaries inside a run of equal labels, so its score
 *     is the (+) over every segmentation whose per-position labels equal it: the log of its
 *     total probability mass times Z (LOG; the probabilities of all labellings sum to 1), or
 *     the best such segmentation (MAX). Runs are never merged or split silently; a labelling
 *     with no consistent segmentation (a run that no allowed durations can tile) scores -inf.
 * The gold tensors may live in host memory or on the context's device (copied to the host to
 * be validated). score (B), dtype of the scores. */
SK_API sk_status sk_semicrf_gold_score(sk_context *ctx, const sk_semicrf_options *options,
                                       const sk_tensor *scores, const sk_tensor *transition,
                                       const sk_tensor *duration_bias, const sk_tensor *start,
                                       const sk_tensor *proj_start, const sk_tensor *proj_end,
                                       const sk_tensor *lengths, const sk_tensor *gold_segments,
                                       const sk_tensor *gold_segment_counts,
                                       const sk_tensor *gold_labels, sk_tensor *score);

/* Gradients of sum_b grad_score[b] * score_b of sk_semicrf_gold_score, with the same output
 * conventions as sk_semicrf_backward (mu = the gold segments' indicators for gold_segments; the
 * posterior over the consistent segmentations (LOG) or the best one's indicators (MAX) for
 * gold_labels). score (B), optional, receives the forward value. */
SK_API sk_status sk_semicrf_gold_score_backward(
    sk_context *ctx, const sk_semicrf_options *options, const sk_tensor *scores,
    const sk_tensor *transition, const sk_tensor *duration_bias, const sk_tensor *start,
    const sk_tensor *proj_start, const sk_tensor *proj_end, const sk_tensor *lengths,
    const sk_tensor *gold_segments, const sk_tensor *gold_segment_counts,
    const sk_tensor *gold_labels, const sk_tensor *grad_score, sk_tensor *grad_scores,
    sk_tensor *grad_transition, sk_tensor *grad_duration_bias, sk_tensor *grad_start,
    sk_tensor *grad_proj_start, sk_tensor *grad_proj_end, sk_tensor *score);
/* ==== end of the Semi-CRF family =========================================================== */

/* ==== Einsum family: semiring einsum with gradients and Viterbi argmax ===================== */
/* out[o] = PLUS over the summed labels of TIMES over the operands of operand_i[its labels],
 * in any semiring of sk_semiring, for an equation in einsum notation, e.g. "bij,bjk->bik",
 * "bi,bij,bj->b", "ii->i", "...ij,...jk->...ik".
 *
 * Equations. Operands are separated by ',', the output follows "->" (required). Labels are the
 * letters a-z and A-Z (case matters); spaces are ignored anywhere; "..." (at most once per
 * term) stands for leading dimensions that broadcast as in NumPy (right-aligned, each extent 1
 * or the common extent). A label repeated inside one operand takes the diagonal ("ii->i").
 * Every label of the output must appear in some operand, and at most once in the output.
 * Labels not in the output are summed (with the semiring's plus); dimensions of "..." that
 * the output does not name (the output has no "...") are summed too. Extents of one label
 * must agree across operands, except that an extent 1 broadcasts against any other extent.
 * A summed label of extent 0 makes the sum the semiring zero; an empty output is not an error
 * (nothing is computed). At most 32 operands (SK_EINSUM_MAX_OPERANDS), each of rank at most
 * SK_MAX_RANK; the output has rank at most SK_MAX_RANK. A parse error is SK_ERROR_INVALID_ARGUMENT
 * (SK_ERROR_SHAPE for extents) whose message names the 0-based character position in the
 * equation and the problem, e.g. "equation \"ij,jk->ix\": position 8: output label 'x' does not
 * appear in any operand".
 *
 * Plans. sk_einsum_plan_create parses the equation once for fixed operand ranks and shapes
 * and chooses a contraction order: operand-only labels are summed first, then operands are
 * contracted pairwise, greedily picking the pair whose result is smallest (opt_einsum's greedy
 * rule, valid in every commutative semiring). Each pairwise step that sums labels runs as one
 * batched semiring matmul (the sk_semiring_matmul engine) after a permute of its operands where
 * their layout needs one; steps without a summed label run as a direct element-wise kernel.
 * A plan is immutable, owns no device memory, may be used with any context and dtype (float32
 * or float64), and by several threads at once (each with its own context).
 *
 * Semirings (options.semiring): LOG, MAX, MIN, REAL, BOOLEAN as sk_semiring. "Viterbi" is MAX
 * (or MIN) with an argmax tensor passed to sk_einsum_forward: for each output element it
 * receives the values of the summed labels at a maximising assignment.
 *
 * Argmax layout (torch-semiring-einsum's): shape = output shape + [S], int32 or int64, where S
 * is the number of summed variables (sk_einsum_plan_summed_count): the summed letters in order
 * of first appearance in the equation, then the summed "..." dimensions (left to right).
 * -1 everywhere along S where the output is the semiring zero (every term -inf for MAX,
 * +inf for MIN, or a summed extent 0). Ties: each contraction step keeps the lowest index of
 * the variables it sums (flattened in order of first appearance), and the returned assignment
 * is the lexicographically smallest maximiser when the variables summed by later steps are
 * compared first. For one summed variable, or when all summed variables are summed in one
 * step (one or two operands without operand-only summed labels), this is simply the lowest
 * index in order of first appearance. The rule depends only on the equation and the shapes
 * (the plan), never on threads, tiling or device. A NaN term wins (and propagates).
 *
 * Numerics. Sums accumulate in the input dtype (the matmul engine's log fast path and exact
 * fix-ups apply). -inf is exact: logsumexp of all -inf is -inf. NaN propagates to every output
 * it reaches. Results are deterministic run to run on one device and independent of the CPU
 * thread count.
 *
 * Gradients (sk_einsum_backward, a vector-Jacobian product of the forward):
 *   REAL:    grad_i = d/d operand_i of sum_o grad_out[o] out[o] (an einsum of grad_out with the
 *            other operands).
 *   LOG:     grad_i[x] = sum over the terms t containing operand_i[x] of
 *            grad_out[o] exp(term_t - out[o]), computed in log space for the positive and the
 *            negative part of grad_out separately (no overflow). For an output with
 *            out[o] = -inf the weight is 0 (SK_EINSUM_ZERO_GRADIENT_ZERO, the default) or NaN
 *            (SK_EINSUM_ZERO_GRADIENT_NAN, torch-semiring-einsum's result), spread to every
 *            element of every operand that takes part in its sum. out[o] = +inf or NaN gives NaN.
 *   MAX/MIN: grad_out[o] is routed to the operand elements of the argmax assignment of o
 *            (summed in increasing order of o: deterministic, no atomics); outputs at the
 *            semiring zero route nothing (the zero-gradient option does not apply). Without
 *            summed variables (S = 0) nothing is selected: each operand element gets grad_out
 *            of every output it enters (the derivative of a + b), whatever the value.
 *   BOOLEAN: no gradient (SK_ERROR_UNSUPPORTED).
 * A diagonal operand ("ii") gets 0 off its diagonal; a broadcast dimension (extent 1 against
 * a larger extent) gets the sum over the broadcast. Gradients are overwritten, not accumulated.
 *
 * Memory. Intermediate results and permuted copies of operands live in the context's workspace;
 * sk_einsum_plan_workspace_bytes reports the most a call needs for the full problem. When that
 * exceeds options.workspace_limit_bytes (0: no limit of its own), the call splits the output
 * along its output labels (largest extent first) into blocks whose need fits, and runs the
 * plan block by block (the role of torch-semiring-einsum's block_size); when no block fits, it
 * fails with SK_ERROR_OUT_OF_MEMORY naming the need and the limit. The context's own workspace
 * limit (sk_context_set_workspace_limit) applies on top. The backward of LOG and REAL needs
 * the workspace of one einsum per requested gradient (two for LOG) plus an output-sized buffer.
 */
#define SK_EINSUM_MAX_OPERANDS 32

typedef enum sk_einsum_zero_gradient {
    SK_EINSUM_ZERO_GRADIENT_ZERO = 0, /* gradient through an all -inf (LOG) sum is 0 */
    SK_EINSUM_ZERO_GRADIENT_NAN = 1   /* ... is NaN */
} sk_einsum_zero_gradient;

/* Zero-initialise, then set struct_size and semiring. */
typedef struct sk_einsum_options {
    int64_t struct_size;            /* sizeof(sk_einsum_options) */
    int32_t semiring;               /* sk_semiring */
    int32_t zero_gradient;          /* sk_einsum_zero_gradient (LOG backward only) */
    int64_t workspace_limit_bytes;  /* 0: none; else the output is processed in blocks */
} sk_einsum_options;

/* Opaque compiled equation. */
typedef struct sk_einsum_plan sk_einsum_plan;

/* Compiles an equation for num_operands operands of ranks ranks[i] and extents
 * shapes[offset_i .. offset_i + ranks[i]) where offset_i = ranks[0] + ... + ranks[i-1]
 * (the extents of all operands, concatenated). Errors go to sk_last_error() (no context). */
SK_API sk_status sk_einsum_plan_create(const char *equation, int32_t num_operands,
                                       const int32_t *ranks, const int64_t *shapes,
                                       const sk_einsum_options *options, sk_einsum_plan **out);
/* Destroys a plan (NULL is accepted). */
SK_API sk_status sk_einsum_plan_destroy(sk_einsum_plan *plan);
/* The output's rank and extents (shape receives SK_MAX_RANK entries, unused ones 0). */
SK_API sk_status sk_einsum_plan_output_shape(const sk_einsum_plan *plan, int32_t *rank,
                                             int64_t *shape);
/* S, the number of summed variables (the last extent of an argmax tensor). */
SK_API sk_status sk_einsum_plan_summed_count(const sk_einsum_plan *plan, int32_t *count);
/* Workspace bytes a forward call (backward = 0; with an argmax for MAX/MIN) or a backward call
 * (backward = 1) needs for the whole problem in the given dtype (sk_dtype, float32 or float64),
 * before blocking: an upper bound that counts a permuted copy of every operand of a matmul step.
 * The matmul engine's own scratch (packed panels) comes on top. */
SK_API sk_status sk_einsum_plan_workspace_bytes(const sk_einsum_plan *plan, int32_t dtype,
                                                int32_t backward, int64_t *bytes);

/* Forward. operands: array of num_operands descriptors with the plan's shapes, one float dtype,
 * on the context's device, any non-negative strides. out: the output shape, same dtype.
 * argmax: optional (NULL to skip), MAX and MIN only, int32 or int64, shape output + [S]
 * (so the output rank must be below SK_MAX_RANK). */
SK_API sk_status sk_einsum_forward(sk_context *ctx, const sk_einsum_plan *plan,
                                   const sk_tensor *const *operands, sk_tensor *out,
                                   sk_tensor *argmax);

/* Backward: grads[i] (NULL entries, or grads itself NULL, skip) receives dL/d operand_i for
 * the upstream gradient grad_out (output shape). out: the forward's output, required for LOG
 * (ignored otherwise, may be NULL). argmax: for MAX/MIN, the forward's argmax (int32 or int64;
 * entries must lie in [-1, extent)); NULL recomputes it. */
SK_API sk_status sk_einsum_backward(sk_context *ctx, const sk_einsum_plan *plan,
                                    const sk_tensor *const *operands, const sk_tensor *out,
                                    const sk_tensor *argmax, const sk_tensor *grad_out,
                                    sk_tensor *const *grads);
/* ==== end of the Einsum family ============================================================== */

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
