"""The PySide6 app: a window over the engine (desktop_dedup.core), which it drives through background jobs."""
from .compat import protect_singletons as _protect_singletons

_protect_singletons()
