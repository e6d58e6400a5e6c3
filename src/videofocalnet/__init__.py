"""videofocalnet: Video-FocalNets (ICCV 2023) for video action recognition."""

__version__ = "0.1.0"

from videofocalnet.models import VideoFocalNet, create_model, list_models  # noqa: E402

__all__ = ["VideoFocalNet", "create_model", "list_models", "__version__"]
