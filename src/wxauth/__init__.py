"""wxauth: login and session service for WeChat Mini Programs."""

__version__ = "0.1.0"
