"""Lambda's fixed facts that several stages need."""

TASK_ROOT = "/var/task"  # where a function's code is (LAMBDA_TASK_ROOT), and the working directory
LIMIT_BYTES = 262_144_000  # the 250 MiB limit on a ZIP function's unzipped code plus layers
MEMORY_MB = (128, 10_240)  # the range of MemorySize
TIMEOUT_S = (1, 900)  # the range of Timeout
EPHEMERAL_MB = (512, 10_240)  # the range of EphemeralStorage, /tmp; 512 is the default
PYTHON_RUNTIMES = ("3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")  # Lambda's python3.x runtimes
