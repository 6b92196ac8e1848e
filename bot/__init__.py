"""psabot: the bot process (CLI, settings, composition root and chat transports)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("psabot")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+source"
