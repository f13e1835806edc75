"""Progress bars: drawn on a terminal, absent from logs (a pipe, a SLURM .err file, a Hydra log).

The subprocess tests run the real training loop (:func:`tlsweep.train.loop.fit`, two epochs of
a linear model) with ``progress=True``, once with stderr piped and once with stderr on a
pseudo-terminal, and read what reached stderr.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from tlsweep.progress import progress_bar

TRAIN = """
import logging, sys
import torch
from tlsweep.train.data import Subset
from tlsweep.train.loop import Objective, TrainSettings, fit

logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
images = torch.randn(24, 4, 4, 4, generator=torch.Generator().manual_seed(0))
train = Subset(images.half(), images.mean((1, 2, 3)), [f"s{i}" for i in range(24)])
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))

def loss(net, batch, progress):
    return torch.nn.functional.mse_loss(net(batch.x).squeeze(1), batch.y)

settings = TrainSettings(epochs=2, batch_size=4, lr=1e-2, weight_decay=0.0, progress=True)
fit(model, loss, train, lambda net: {"val/mae": 1.0}, settings, Objective("val/mae"))
"""
BAR = "%|"  # tqdm's bar: "train 1/2:  50%|#####     | 3/6 [...]"
EPOCH_LINES = ("train epoch 1/2 train/loss=", "train epoch 2/2 train/loss=")


def _on_terminal(args: list[str], timeout: float = 60.0) -> str:
    """Run ``args`` with stderr on a pseudo-terminal (80 columns); return what it wrote there."""
    master, slave = pty.openpty()
    # a real terminal has a size, and tqdm sizes its bar from it
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave
    )
    os.close(slave)  # else the master never sees end-of-file
    out, deadline = bytearray(), time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 1.0)[0]:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO on Linux: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(timeout=max(1.0, deadline - time.monotonic())) == 0, out.decode()
    finally:
        proc.kill()
        os.close(master)
    return out.decode()


@pytest.mark.slow  # a training process
def test_piped_stderr_gets_one_line_per_epoch_and_no_bar() -> None:
    # bytes, not text=True: universal newlines would turn every "\r" into "\n"
    proc = subprocess.run([sys.executable, "-c", TRAIN], capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "\r" not in err and BAR not in err, err
    lines = err.split("\n")
    for expected in EPOCH_LINES:
        assert sum(line.startswith(expected) for line in lines) == 1, err


@pytest.mark.slow  # starts processes: the slow tier
def test_a_terminal_gets_the_bar_and_the_epoch_lines() -> None:
    err = _on_terminal([sys.executable, "-c", TRAIN])
    # a pty turns "\n" into "\r\n", so look for the bar itself, redrawn in place
    assert "train 1/2:" in err and "train 2/2:" in err and BAR in err, err
    assert all(expected in err for expected in EPOCH_LINES), err


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_the_setting_turns_the_bar_off_even_on_a_terminal() -> None:
    shown, hidden = Terminal(), Terminal()
    assert list(progress_bar(range(3), enabled=True, file=shown, desc="on")) == [0, 1, 2]
    assert list(progress_bar(range(3), enabled=False, file=hidden, desc="off")) == [0, 1, 2]
    assert "on: 100%|" in shown.getvalue()
    assert hidden.getvalue() == ""


def test_a_stream_that_is_no_terminal_gets_no_bar() -> None:
    log = io.StringIO()
    assert list(progress_bar(range(3), enabled=True, file=log)) == [0, 1, 2]
    assert log.getvalue() == ""
