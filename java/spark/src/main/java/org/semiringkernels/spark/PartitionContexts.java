package org.semiringkernels.spark;

import org.apache.spark.TaskContext;
import org.semiringkernels.Context;

/**
 * One library context per task (partition) on the task's device, closed when the task completes
 * (successfully or not), so that device memory never outlives the task.
 */
final class PartitionContexts {

    private PartitionContexts() {
    }

    static Context open() {
        Context context = Context.create(ExecutorDevices.forCurrentTask());
        TaskContext task = TaskContext.get();
        if (task != null) {
            task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) t -> context.close());
        }
        return context;
    }
}
