"""The domain, framework-free: login, session tokens, users and profiles.

The core declares what it needs (a :class:`~wxauth.core.ports.Store`, a WeChat gateway, a
clock) and the outer layers pass it in.
"""
