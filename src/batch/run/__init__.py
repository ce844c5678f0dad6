"""Running a stored batch: execution, retry policy, throttles, concurrency, progress."""
