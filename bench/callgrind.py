"""A broker process under valgrind's callgrind, whose instructions are counted between two points.

Instructions do not move with the speed of a shared VM (steal time of 50% seen here), so CPU costs taken this way
compare across runs and hours where throughput does not. Only the broker's process is counted.
"""

from __future__ import annotations

import glob
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[1]


class CallgrindServer:
    """`sso-broker serve` under callgrind: `zero()` before the work to count, `count()` after it."""

    def __init__(self, port: int, env: dict[str, str]) -> None:
        self.port, self.env = port, env
        self.dump = str(Path(tempfile.mkdtemp(prefix="sso-bench-cost-")) / "callgrind.out")
        self._dumps = 0
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> CallgrindServer:
        self.process = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={self.dump}", sys.executable, "-m", "app.cli",
             "serve", "--port", str(self.port), "--log-level", "warning"],
            env=self.env, cwd=ROOT, stderr=subprocess.DEVNULL)
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=120)

    def _control(self, option: str) -> None:
        assert self.process is not None
        subprocess.run(["callgrind_control", option, str(self.process.pid)], check=True, capture_output=True)

    def zero(self) -> None:
        self._control("-z")

    def count(self) -> int:
        """The instructions since the last `zero()`, from the dump this takes."""
        self._control("-d")
        self._dumps += 1
        for line in Path(f"{self.dump}.{self._dumps}").read_text().splitlines():
            if line.startswith("summary:"):
                return int(line.split()[1])
        raise RuntimeError("callgrind wrote no summary")

    def dumps(self) -> str:
        return " ".join(sorted(glob.glob(self.dump + ".*")))
