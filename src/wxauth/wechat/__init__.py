"""WeChat as seen from a server: the API client, the errcode table and (later) crypto."""

from wxauth.wechat.client import WeChatClient, WeChatSession

__all__ = ["WeChatClient", "WeChatSession"]
