"""The console's words in English and Chinese; the operator picks, the browser suggests."""

from __future__ import annotations

from collections.abc import Callable

LANGUAGES = ("zh", "en")

LABELS: dict[str, dict[str, str]] = {
    "title": {"en": "wxauth console", "zh": "wxauth 控制台"},
    "sign_in": {"en": "Sign in", "zh": "登录"},
    "sign_out": {"en": "Sign out", "zh": "退出"},
    "name": {"en": "Name", "zh": "用户名"},
    "password": {"en": "Password", "zh": "密码"},
    "totp": {"en": "One-time code (if set up)", "zh": "动态验证码（如已启用）"},
    "wrong": {"en": "Wrong name, password or code.", "zh": "用户名、密码或验证码错误。"},
    "throttled": {
        "en": "Too many failed sign-ins; try again in {seconds} s.",
        "zh": "登录失败次数过多，请 {seconds} 秒后再试。",
    },
    "dashboard": {"en": "Dashboard", "zh": "概览"},
    "users": {"en": "Users", "zh": "用户"},
    "apps": {"en": "Apps", "zh": "小程序"},
    "audit": {"en": "Audit trail", "zh": "审计日志"},
    "all_apps": {"en": "All apps", "zh": "全部小程序"},
    "show": {"en": "Show", "zh": "查看"},
    "logins_per_hour": {"en": "Logins per hour (last 24 h)", "zh": "每小时登录（近 24 小时）"},
    "new_users_per_day": {"en": "New users per day (last 14 days)", "zh": "每日新用户（近 14 天）"},
    "wechat_error_rate": {
        "en": "WeChat error rate per hour",
        "zh": "每小时微信接口错误率",
    },
    "wechat_latency": {
        "en": "code2Session latency per hour (p50, p95)",
        "zh": "每小时 code2Session 耗时（p50、p95）",
    },
    "latency_24h": {
        "en": "code2Session p50 / p95 (24 h)",
        "zh": "code2Session p50 / p95（24 小时）",
    },
    "active_sessions": {"en": "Active sessions", "zh": "活跃会话"},
    "logins_24h": {"en": "Logins (24 h)", "zh": "登录次数（24 小时）"},
    "failed_24h": {"en": "Failed logins (24 h)", "zh": "登录失败（24 小时）"},
    "new_users_14d": {"en": "New users (14 days)", "zh": "新用户（14 天）"},
    "search": {"en": "Search", "zh": "搜索"},
    "search_hint": {
        "en": "id, nickname, last 4+ phone digits, openid or unionid",
        "zh": "用户 ID、昵称、手机号后 4 位以上、openid 或 unionid",
    },
    "no_results": {"en": "No user found.", "zh": "未找到用户。"},
    "nickname": {"en": "Nickname", "zh": "昵称"},
    "app": {"en": "App", "zh": "小程序"},
    "status": {"en": "Status", "zh": "状态"},
    "created": {"en": "Created", "zh": "创建时间"},
    "last_login": {"en": "Last login", "zh": "最近登录"},
    "phone": {"en": "Phone", "zh": "手机号"},
    "reveal_phone": {"en": "Show the number (recorded)", "zh": "显示完整号码（将被记录）"},
    "profile": {"en": "Profile", "zh": "资料"},
    "sessions": {"en": "Sessions and devices", "zh": "会话与设备"},
    "login_history": {"en": "Login history", "zh": "登录记录"},
    "account_events": {"en": "Account events", "zh": "账号事件"},
    "disable": {"en": "Disable", "zh": "停用"},
    "enable": {"en": "Enable", "zh": "启用"},
    "reason": {"en": "Reason (shown to the user)", "zh": "原因（用户可见）"},
    "until": {"en": "Until (optional, ISO 8601)", "zh": "截止时间（可选，ISO 8601）"},
    "revoke_sessions": {"en": "End all sessions", "zh": "结束全部会话"},
    "export": {"en": "Export (JSON)", "zh": "导出（JSON）"},
    "delete": {"en": "Delete the account", "zh": "删除账号"},
    "delete_confirm": {"en": "Type DELETE to confirm", "zh": "输入 DELETE 以确认"},
    "done": {"en": "Done.", "zh": "已完成。"},
    "time": {"en": "Time", "zh": "时间"},
    "result": {"en": "Result", "zh": "结果"},
    "error": {"en": "Error", "zh": "错误"},
    "ip": {"en": "Address", "zh": "地址"},
    "device": {"en": "Device", "zh": "设备"},
    "live": {"en": "Live", "zh": "有效"},
    "ended": {"en": "Ended", "zh": "已结束"},
    "operator": {"en": "Operator", "zh": "操作员"},
    "action": {"en": "Action", "zh": "操作"},
    "target": {"en": "Target", "zh": "对象"},
    "detail": {"en": "Detail", "zh": "详情"},
    "since": {"en": "From (ISO 8601)", "zh": "开始（ISO 8601）"},
    "before": {"en": "Before (ISO 8601)", "zh": "结束（ISO 8601）"},
    "user": {"en": "User", "zh": "用户"},
    "filter": {"en": "Filter", "zh": "筛选"},
    "login_events": {"en": "Login events", "zh": "登录事件"},
    "operator_actions": {"en": "Operator actions", "zh": "操作员操作"},
    "appid": {"en": "AppID", "zh": "AppID"},
    "registry_apps": {
        "en": "Mini programs served (the registry and WXAUTH_APPS)",
        "zh": "已服务的小程序（注册表与 WXAUTH_APPS）",
    },
    "kind": {"en": "Kind", "zh": "类型"},
    "kind_direct": {"en": "direct", "zh": "直连"},
    "kind_platform": {"en": "via platform {platform}", "zh": "经第三方平台 {platform}"},
    "source": {"en": "From", "zh": "来源"},
    "updated": {"en": "Updated", "zh": "更新时间"},
    "live_sessions": {"en": "Live sessions", "zh": "有效会话"},
    "display_name": {"en": "Display name", "zh": "显示名称"},
    "idle_ttl": {"en": "Idle lifetime (s)", "zh": "闲置有效期（秒）"},
    "max_ttl": {"en": "Longest lifetime (s)", "zh": "最长有效期（秒）"},
    "login_limit": {
        "en": "Failed logins per window (0: no limit)",
        "zh": "每窗口登录失败次数（0：不限）",
    },
    "default_value": {"en": "the default, {value}", "zh": "默认值 {value}"},
    "dash_default": {
        "en": "-: the deployment's default (WXAUTH_SESSION_IDLE_TTL, WXAUTH_SESSION_MAX_TTL, "
        "WXAUTH_RATE_LIMIT_LOGIN_APPID).",
        "zh": "-：使用部署的默认值（WXAUTH_SESSION_IDLE_TTL、WXAUTH_SESSION_MAX_TTL、"
        "WXAUTH_RATE_LIMIT_LOGIN_APPID）。",
    },
    "app_settings": {"en": "Settings", "zh": "设置"},
    "save": {"en": "Save", "zh": "保存"},
    "add_app": {"en": "Add a mini program", "zh": "添加小程序"},
    "add": {"en": "Add", "zh": "添加"},
    "new_secret": {"en": "New secret", "zh": "新密钥"},
    "secret_again": {"en": "The secret again", "zh": "再次输入密钥"},
    "rotate_secret": {"en": "Store the new secret", "zh": "保存新密钥"},
    "secret_stored": {"en": "stored, encrypted", "zh": "已加密保存"},
    "secret_env": {"en": "from WXAUTH_APPS", "zh": "来自 WXAUTH_APPS"},
    "secret_none": {"en": "none (logs in through its platform)", "zh": "无（经第三方平台登录）"},
    "app_reason": {"en": "Reason (kept in the registry)", "zh": "原因（记录在注册表中）"},
    "confirm_appid": {"en": "Type the appid to confirm", "zh": "输入 AppID 以确认"},
    "disable_app_note": {
        "en": "Its logins are refused and its live sessions end at once.",
        "zh": "将拒绝其登录，并立即结束其全部有效会话。",
    },
    "platforms": {"en": "Third-party platforms", "zh": "第三方平台"},
    "component_appid": {"en": "Component appid", "zh": "第三方平台 AppID"},
    "ticket": {"en": "component_verify_ticket", "zh": "component_verify_ticket"},
    "ticket_missing": {
        "en": "none received: WeChat pushes one every 10 minutes to the event URL",
        "zh": "尚未收到：微信每 10 分钟向事件 URL 推送一次",
    },
    "ticket_stale": {
        "en": "older than 12 h: WeChat no longer accepts it",
        "zh": "已超过 12 小时：微信不再接受",
    },
    "ticket_age": {"en": "received {age} ago ({at})", "zh": "{age} 前收到（{at}）"},
    "component_token": {"en": "component_access_token", "zh": "component_access_token"},
    "token_cached": {"en": "held, expires {at}", "zh": "已缓存，{at} 过期"},
    "token_expired": {"en": "held, expired {at}", "zh": "已缓存，{at} 已过期"},
    "token_none": {
        "en": "not fetched yet (it is fetched on first use)",
        "zh": "尚未获取（首次使用时获取）",
    },
    "token_unknown": {
        "en": "unknown (the shared cache did not answer)",
        "zh": "未知（共享缓存无响应）",
    },
    "merchants": {"en": "Authorized mini programs", "zh": "已授权的小程序"},
    "no_merchants": {"en": "None yet.", "zh": "暂无。"},
    "authorize_link": {"en": "Make an authorization link", "zh": "生成授权链接"},
    "redirect_uri": {"en": "Redirect URI (after authorizing)", "zh": "授权后跳转地址"},
    "link_note": {
        "en": "Send this page to the merchant (valid 30 minutes):",
        "zh": "将此页面发给商家（30 分钟内有效）：",
    },
    "users_count": {"en": "Users", "zh": "用户数"},
    "secret": {"en": "Secret", "zh": "密钥"},
    "forbidden": {"en": "Not allowed", "zh": "无权操作"},
    "viewer_note": {"en": "viewer: read only", "zh": "只读账号"},
    "language": {"en": "中文", "zh": "English"},
    "api_docs": {"en": "API docs", "zh": "API 文档"},
}


def translator(lang: str) -> Callable[..., str]:
    def t(key: str, **values: object) -> str:
        text = LABELS[key].get(lang) or LABELS[key]["en"]
        return text.format(**values) if values else text

    return t


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    first = (accept_language or "").split(",")[0].strip().lower()
    return "zh" if first.startswith("zh") else "en"
