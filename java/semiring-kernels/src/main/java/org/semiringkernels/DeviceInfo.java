package org.semiringkernels;

/**
 * What the CUDA driver reports about a device ({@code sk_device_info}).
 *
 * @param index                  CUDA ordinal
 * @param name                   device name
 * @param totalMemoryBytes       global memory
 * @param computeCapabilityMajor e.g. 9 for sm_90
 * @param computeCapabilityMinor e.g. 0 for sm_90
 * @param multiprocessorCount    streaming multiprocessors
 */
public record DeviceInfo(int index, String name, long totalMemoryBytes, int computeCapabilityMajor,
                         int computeCapabilityMinor, int multiprocessorCount) {

    /** "9.0" style compute capability. */
    public String computeCapability() {
        return computeCapabilityMajor + "." + computeCapabilityMinor;
    }
}
