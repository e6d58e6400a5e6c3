"""``python train_and_kill.py CFG OUTPUT STEP``: train, and SIGKILL this process right after step STEP's checkpoint.

A test hook injected as a training callback, so the engine itself has none: resume after a real SIGKILL must end
bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import os
import signal
import sys

from videofocalnet.engine.config import load_config
from videofocalnet.engine.train import TrainCallback, TrainRecipe, train


class KillAfterCheckpoint(TrainCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_checkpoint(self, recipe: TrainRecipe) -> None:
        if recipe.state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    cfg_path, output, step = sys.argv[1:4]
    train(load_config(cfg_path), output=output, progress=False, callbacks=[KillAfterCheckpoint(int(step))])
