/* Prints the layout of every struct and the value of every enum and macro constant of the
 * public header, one per line: "sizeof <struct> <n>", "offsetof <struct>.<field> <n>",
 * "enum <NAME> <value>", "define <NAME> <value>". The Java tests compare the checked-in
 * bindings with this output, so a header change that the bindings miss fails CI. */
#include <stddef.h>
#include <stdio.h>

#include "semiring_kernels.h"

#define SIZE(s) printf("sizeof %s %zu\n", #s, sizeof(s))
#define OFFSET(s, f) printf("offsetof %s.%s %zu\n", #s, #f, offsetof(s, f))
#define ENUM(e) printf("enum %s %d\n", #e, (int)(e))
#define DEFINE(d) printf("define %s %d\n", #d, (int)(d))

int main(void) {
    SIZE(sk_tensor);
    OFFSET(sk_tensor, data);
    OFFSET(sk_tensor, dtype);
    OFFSET(sk_tensor, device_type);
    OFFSET(sk_tensor, device_index);
    OFFSET(sk_tensor, rank);
    OFFSET(sk_tensor, shape);
    OFFSET(sk_tensor, strides);
    SIZE(sk_device_info);
    OFFSET(sk_device_info, name);
    OFFSET(sk_device_info, compute_capability_major);
    OFFSET(sk_device_info, compute_capability_minor);
    OFFSET(sk_device_info, multiprocessor_count);
    OFFSET(sk_device_info, reserved);
    OFFSET(sk_device_info, total_memory_bytes);
    SIZE(sk_matmul_options);
    OFFSET(sk_matmul_options, struct_size);
    OFFSET(sk_matmul_options, semiring);
    OFFSET(sk_matmul_options, reserved);
    SIZE(sk_ctc_options);
    OFFSET(sk_ctc_options, struct_size);
    OFFSET(sk_ctc_options, layout);
    OFFSET(sk_ctc_options, blank);
    OFFSET(sk_ctc_options, reduction);
    OFFSET(sk_ctc_options, zero_infinity);
    OFFSET(sk_ctc_options, gradient);
    OFFSET(sk_ctc_options, reserved);
    SIZE(sk_hmm_options);
    OFFSET(sk_hmm_options, struct_size);
    OFFSET(sk_hmm_options, semiring);
    OFFSET(sk_hmm_options, initial_convention);
    SIZE(sk_einsum_options);
    OFFSET(sk_einsum_options, struct_size);
    OFFSET(sk_einsum_options, semiring);
    OFFSET(sk_einsum_options, zero_gradient);
    OFFSET(sk_einsum_options, workspace_limit_bytes);
    SIZE(sk_semiconv_options);
    OFFSET(sk_semiconv_options, struct_size);
    OFFSET(sk_semiconv_options, semifield);
    OFFSET(sk_semiconv_options, spatial_rank);
    OFFSET(sk_semiconv_options, kind);
    OFFSET(sk_semiconv_options, padding_mode);
    OFFSET(sk_semiconv_options, groups);
    OFFSET(sk_semiconv_options, group_broadcast);
    OFFSET(sk_semiconv_options, channels_add);
    OFFSET(sk_semiconv_options, reserved);
    OFFSET(sk_semiconv_options, p);
    OFFSET(sk_semiconv_options, mu);
    OFFSET(sk_semiconv_options, stride);
    OFFSET(sk_semiconv_options, dilation);
    OFFSET(sk_semiconv_options, padding_begin);
    OFFSET(sk_semiconv_options, padding_end);

    ENUM(SK_OK);
    ENUM(SK_ERROR_INVALID_ARGUMENT);
    ENUM(SK_ERROR_NULL_POINTER);
    ENUM(SK_ERROR_SHAPE);
    ENUM(SK_ERROR_DTYPE);
    ENUM(SK_ERROR_DEVICE);
    ENUM(SK_ERROR_UNSUPPORTED);
    ENUM(SK_ERROR_OUT_OF_MEMORY);
    ENUM(SK_ERROR_CUDA);
    ENUM(SK_ERROR_INTERNAL);
    ENUM(SK_DTYPE_FLOAT32);
    ENUM(SK_DTYPE_FLOAT64);
    ENUM(SK_DTYPE_INT32);
    ENUM(SK_DTYPE_INT64);
    ENUM(SK_DEVICE_CPU);
    ENUM(SK_DEVICE_CUDA);
    ENUM(SK_SEMIRING_LOG);
    ENUM(SK_SEMIRING_MAX);
    ENUM(SK_SEMIRING_REAL);
    ENUM(SK_SEMIRING_MIN);
    ENUM(SK_SEMIRING_BOOLEAN);
    ENUM(SK_CTC_LAYOUT_TIME_MAJOR);
    ENUM(SK_CTC_LAYOUT_BATCH_MAJOR);
    ENUM(SK_CTC_REDUCTION_NONE);
    ENUM(SK_CTC_REDUCTION_SUM);
    ENUM(SK_CTC_REDUCTION_MEAN);
    ENUM(SK_CTC_GRADIENT_LOG_PROBS);
    ENUM(SK_CTC_GRADIENT_FUSED_LOGITS);
    ENUM(SK_HMM_INITIAL_SEPARATE);
    ENUM(SK_HMM_INITIAL_ROW0);
    ENUM(SK_EINSUM_ZERO_GRADIENT_ZERO);
    ENUM(SK_EINSUM_ZERO_GRADIENT_NAN);
    ENUM(SK_SEMIFIELD_TROPICAL_MAX);
    ENUM(SK_SEMIFIELD_TROPICAL_MIN);
    ENUM(SK_SEMIFIELD_LINEAR);
    ENUM(SK_SEMIFIELD_ROOT);
    ENUM(SK_SEMIFIELD_LOG);
    ENUM(SK_SEMICONV_PADDING_EXPLICIT);
    ENUM(SK_SEMICONV_PADDING_VALID);
    ENUM(SK_SEMICONV_PADDING_SAME);
    ENUM(SK_SEMICONV_CONVOLUTION);
    ENUM(SK_SEMICONV_CORRELATION);
    ENUM(SK_QUADRATIC_ISOTROPIC);
    ENUM(SK_QUADRATIC_ANISOTROPIC);
    ENUM(SK_QUADRATIC_CHOLESKY);

    DEFINE(SK_VERSION_MAJOR);
    DEFINE(SK_VERSION_MINOR);
    DEFINE(SK_VERSION_PATCH);
    DEFINE(SK_ABI_VERSION);
    DEFINE(SK_MAX_RANK);
    DEFINE(SK_DEVICE_NAME_CAPACITY);
    /* Semi-CRF family */
    SIZE(sk_semicrf_options);
    OFFSET(sk_semicrf_options, struct_size);
    OFFSET(sk_semicrf_options, semiring);
    OFFSET(sk_semicrf_options, input);
    OFFSET(sk_semicrf_options, zero_centre);
    OFFSET(sk_semicrf_options, flash_semicrf_compat);
    OFFSET(sk_semicrf_options, infeasible_gradient);
    OFFSET(sk_semicrf_options, reserved);
    ENUM(SK_SEMICRF_INPUT_SCORES);
    ENUM(SK_SEMICRF_INPUT_CUMULATIVE);
    ENUM(SK_SEMICRF_INFEASIBLE_GRADIENT_ZERO);
    ENUM(SK_SEMICRF_INFEASIBLE_GRADIENT_NAN);
    DEFINE(SK_EINSUM_MAX_OPERANDS);
    /* The library agrees with the header it was built from. */
    return sk_abi_version() == SK_ABI_VERSION ? 0 : 1;
}
