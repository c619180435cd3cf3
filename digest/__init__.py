"""digest: a weekly newsletter that writes and sends itself."""

__version__ = "0.1.0"
USER_AGENT = f"digest/{__version__} (+https://github.com/digest-newsletter/digest)"
