"""zu_bench - what the benchmarks share: readings of a process in /proc and
of the committed offsets. python3 stdlib only."""

import os

TICKS = os.sysconf("SC_CLK_TCK")


def peak_rss_kib(pid):
    """The process's peak resident set (VmHWM), KiB; 0 when unknown."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    """User + system CPU seconds the process has used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_s_threads(pid):
    """CPU seconds the process's live threads have used so far, to the
    nanosecond (/proc/PID/task/*/schedstat): for an interval in which no
    thread ends, where cpu_s's 10 ms ticks are too coarse (30 s of idle at
    0.3% of a core is 9 ticks)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # the thread ended meanwhile
    return total / 1e9


def committed_total(mk, group, topic):
    """Sum of the offsets group committed on topic (partitions without a
    commit count 0)."""
    return sum(max(0, v) for v in mk.committed(group, topic).values())
