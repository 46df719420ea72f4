package org.semiringkernels.spark;

import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;
import org.semiringkernels.Device;

import scala.collection.immutable.Map;

/**
 * The device a task runs the library on: the first GPU Spark assigned to the task (resource
 * {@code gpu}, with {@code spark.task.resource.gpu.amount} and a discovery script set), when the
 * library can use CUDA in this executor; the CPU otherwise (no GPU resource, a CPU-only build, no
 * driver). The native library is loaded once per executor JVM, by the first call.
 */
public final class ExecutorDevices {

    private ExecutorDevices() {
    }

    /** The device for the current task (the CPU outside a task, e.g. on the driver). */
    public static Device forCurrentTask() {
        TaskContext task = TaskContext.get();
        if (task == null) {
            return Device.CPU;
        }
        Map<String, ResourceInformation> resources = task.resources();
        if (!resources.contains("gpu")) {
            return Device.CPU;
        }
        String[] addresses = resources.apply("gpu").addresses();
        if (addresses.length == 0 || !Device.cudaAvailable()) {
            return Device.CPU;
        }
        try {
            int index = Integer.parseInt(addresses[0].strip());
            return index >= 0 && index < Device.cudaDeviceCount() ? Device.cuda(index) : Device.CPU;
        } catch (NumberFormatException e) {
            return Device.CPU;
        }
    }
}
