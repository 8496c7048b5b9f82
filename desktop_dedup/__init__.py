"""desktop_dedup: find duplicate and near-duplicate photos, review them, trash safely."""

__version__ = "0.1.0"
APP_NAME = "desktop-dedup"
APP_DISPLAY_NAME = "Desktop Dedup"
