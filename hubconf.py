"""``torch.hub`` entry points: ``torch.hub.load("OWNER/videofocalnet", "video_focalnet_base", pretrained="k400")``.

Each registered model is an entry point; ``pretrained`` takes a zoo tag (``"k400"``), ``True`` (the model's first
published weights), a file, a URL or an ``hf-hub:`` id, exactly as ``videofocalnet.create_model``.
"""

dependencies = ["torch", "safetensors", "av", "huggingface_hub"]

import sys as _sys  # noqa: E402
from pathlib import Path as _Path  # noqa: E402

_sys.path.insert(0, str(_Path(__file__).resolve().parent / "src"))  # torch.hub runs from a plain checkout

from videofocalnet.hub import create_model as _create_model  # noqa: E402
from videofocalnet.models import list_models as _list_models  # noqa: E402


def _entry(name: str):
    def load(pretrained=False, **kwargs):
        return _create_model(name, pretrained=pretrained, **kwargs)

    load.__name__ = load.__qualname__ = name
    load.__doc__ = f"{name} (see videofocalnet.create_model); pretrained: zoo tag, True, file, URL or hf-hub: id"
    return load


for _name in _list_models():
    globals()[_name] = _entry(_name)
