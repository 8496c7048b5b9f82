"""desktop_dedup: find duplicate and near-duplicate photos, review them, trash safely."""

__version__ = "0.1.0"
APP_NAME = "desktop-dedup"
APP_DISPLAY_NAME = "Desktop Dedup"


def resources_dir() -> str:
    """The app's icons and desktop entry: `desktop_dedup/resources` in a frozen app, else the source
    tree's top-level `resources/` (editable install or checkout)."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    bundled = os.path.join(here, "resources")
    return bundled if os.path.isdir(bundled) else os.path.join(os.path.dirname(here), "resources")
