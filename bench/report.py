"""One way to print a benchmark's figures against their targets."""

from __future__ import annotations

Result = tuple[str, float, str, bool]  # what, figure, unit, target met


def report(title: str, results: list[Result]) -> int:
    """Prints the table; returns the exit status (non-zero when a target is missed)."""
    width = max([len(title), *(len(name) for name, *_ in results)]) + 2
    print(f"\n{title:<{width}} {'figure':>10}  target")
    for name, value, unit, ok in results:
        print(f"{name:<{width}} {value:>9.2f}{unit:<6} {'met' if ok else 'MISSED'}")
    return 0 if all(ok for *_, ok in results) else 1
