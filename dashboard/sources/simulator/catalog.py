"""What the simulated lab is made of: device types and timings, people, and the texts jobs show.

Plain data and pure helpers for `dashboard.sources.simulator.lab`; every random choice takes the lab's rng.
"""
import collections

DeviceType = collections.namedtuple("DeviceType", "prefix share boot run check")
# Durations are (low, high) virtual seconds: boot = Scheduled → Running, run = a job, check = a
# health check. Slow boards boot and test for minutes, containers for seconds.
DEVICE_TYPES = {
    "qemu": DeviceType("qemu", 0.28, (2, 8), (40, 180), (30, 90)),
    "docker": DeviceType("docker", 0.20, (1, 4), (15, 90), (10, 40)),
    "x86": DeviceType("x86", 0.18, (10, 30), (90, 360), (90, 180)),
    "beaglebone-black": DeviceType("bbb", 0.17, (8, 25), (60, 300), (60, 150)),
    "bcm2711-rpi-4-b": DeviceType("rpi4b", 0.17, (8, 25), (60, 240), (60, 150)),
}
SUBMITTERS = {"ci-bot": 35, "kernelci": 30, "alice": 15, "bob": 12, "carol": 8}
PRIORITIES = {0: 30, 50: 55, 100: 15}
# (description, test suite named in the job's test-shell events)
DESCRIPTIONS = (("kernel boot test", "boot"), ("ltp syscalls", "ltp-syscalls"),
                ("ltp fs", "ltp-fs"), ("kselftest timers", "kselftest-timers"),
                ("smoke [{type}]", "smoke"), ("stress-ng cpu", "stress-ng"))
KERNELCI_DESCRIPTIONS = (("mainline {type} baseline", "baseline"),
                         ("next {type} kselftest-net", "kselftest-net"),
                         ("stable {type} ltp-syscalls", "ltp-syscalls"))
FAILURES = ("job timed out", "kernel panic", "auto-login failed", "connection closed")
HEALTH_CHECKER = "lava-health"


def job_text(rng, device_type):
    """A submitter, priority, description and test suite for a job on `device_type`."""
    submitter = rng.choices(list(SUBMITTERS), list(SUBMITTERS.values()))[0]
    priority = rng.choices(list(PRIORITIES), list(PRIORITIES.values()))[0]
    pool = KERNELCI_DESCRIPTIONS if submitter == "kernelci" else DESCRIPTIONS
    description, suite = rng.choice(pool)
    return submitter, priority, description.format(type=device_type), suite


def shell_event_texts(rng, suite, count, failed):
    """`count` lava-test-event messages for one run of `suite`, ending in an error if it failed."""
    passes, fails = rng.randint(5, 400), rng.choice((0, 0, 0, 1, 2, 7))
    middle = [f"{suite}: {passes * (i + 1) // count} pass, {fails} fail" for i in range(count - 2)]
    last = (f"lava-test-shell: {suite} error: {rng.choice(FAILURES)}" if failed
            else f"lava-test-shell: {suite} done")
    return [f"lava-test-shell: {suite} starting", *middle, last]


def apportion(total, shares):
    """Split `total` by `shares` (largest remainder), so every count is an int and they add up."""
    weight = sum(shares.values())
    exact = {name: total * share / weight for name, share in shares.items()}
    counts = {name: int(value) for name, value in exact.items()}
    by_remainder = sorted(exact, key=lambda name: counts[name] - exact[name])
    for name in by_remainder[:total - sum(counts.values())]:
        counts[name] += 1
    return counts
