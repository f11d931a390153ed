"""Error messages in en-US and zh-CN, chosen by ``?lang=`` or ``Accept-Language``.

Messages are looked up by key; a key's text may carry ``{name}`` fields filled from the error's
parameters. Field-level validation details keep pydantic's English text (they quote field names and
values) but their summary message is translated.
"""

from __future__ import annotations

from typing import Literal

from fastapi import Request

from stream_app.settings import Settings

Language = Literal["en-US", "zh-CN"]
LANGUAGES: tuple[Language, ...] = ("en-US", "zh-CN")

MESSAGES: dict[str, dict[Language, str]] = {
    "validation": {
        "en-US": "The request is not valid: see details.",
        "zh-CN": "请求无效：请查看详细信息。",
    },
    "not_found": {"en-US": "{what} not found.", "zh-CN": "未找到{what}。"},
    "missing": {"en-US": "Not found: {what}.", "zh-CN": "未找到：{what}。"},
    "route_not_found": {"en-US": "No such route.", "zh-CN": "没有这个接口。"},
    "method_not_allowed": {"en-US": "Method not allowed on this route.", "zh-CN": "此接口不支持该方法。"},
    "unauthorized": {
        "en-US": "A valid API key is required (Authorization: Bearer <key>).",
        "zh-CN": "需要有效的 API 密钥（Authorization: Bearer <key>）。",
    },
    "forbidden": {
        "en-US": "This key lacks the '{scope}' scope.",
        "zh-CN": "此密钥没有“{scope}”权限。",
    },
    "rate_limited": {
        "en-US": "Too many requests: retry after {retry_after} s.",
        "zh-CN": "请求过多：请在 {retry_after} 秒后重试。",
    },
    "too_large": {
        "en-US": "The request body exceeds {limit} bytes.",
        "zh-CN": "请求体超过 {limit} 字节。",
    },
    "file_format": {"en-US": "The file cannot be read: {reason}", "zh-CN": "无法读取文件：{reason}"},
    "conflict": {"en-US": "Conflict: {reason}", "zh-CN": "冲突：{reason}"},
    "processing": {
        "en-US": "The request could not be processed.",
        "zh-CN": "无法处理该请求。",
    },
    "inference": {"en-US": "The model failed: {reason}", "zh-CN": "模型推理失败：{reason}"},
    "job_canceled": {"en-US": "The job was canceled.", "zh-CN": "任务已取消。"},
    "unavailable": {
        "en-US": "A service the API needs is unavailable: {what}.",
        "zh-CN": "API 依赖的服务不可用：{what}。",
    },
    "bad_request": {"en-US": "Bad request: {reason}", "zh-CN": "错误的请求：{reason}"},
    # results, readings ingestion, alert configuration (issue 4 section 4, issue 5)
    "asset_not_found": {
        "en-US": "Asset '{asset_id}' not found: it is not registered and the stream has no data for it.",
        "zh-CN": "未找到资产“{asset_id}”：它未注册，数据流中也没有它的数据。",
    },
    "no_forecast": {
        "en-US": "No forecast has been stored for asset '{asset_id}' yet.",
        "zh-CN": "资产“{asset_id}”尚无已存储的预测。",
    },
    "too_many_items": {
        "en-US": "At most {limit} items per request; this one has {count}.",
        "zh-CN": "每个请求最多 {limit} 项；此请求有 {count} 项。",
    },
    "smtp_error": {
        "en-US": "The mail server could not be reached or refused the message; see details.reason.",
        "zh-CN": "无法连接邮件服务器或邮件被拒绝；请查看 details.reason。",
    },
    # console sign-in (issue 18)
    "login_failed": {
        "en-US": "Wrong user name or password.",
        "zh-CN": "用户名或密码错误。",
    },
    "session_ended": {
        "en-US": "Your session has ended (signed out, expired or the account was removed): sign in again.",
        "zh-CN": "您的会话已结束（已退出、已过期或账户已删除）：请重新登录。",
    },
    "cross_origin": {
        "en-US": "Sign-in is only accepted from this server's own pages.",
        "zh-CN": "仅接受来自本服务器自身页面的登录。",
    },
    "csrf": {
        "en-US": "This request needs the {header} header equal to the kw_csrf cookie (signed-in requests "
        "that change something).",
        "zh-CN": "此请求需要与 kw_csrf Cookie 相同的 {header} 请求头（已登录时修改数据的请求）。",
    },
    "alert_config_missing": {
        "en-US": "No alert configuration is set yet (PUT /api/v1/alert-config); alerts are off.",
        "zh-CN": "尚未设置告警配置（PUT /api/v1/alert-config）；告警处于关闭状态。",
    },
}


def negotiate(query_lang: str | None, accept_language: str | None, default: Language) -> Language:
    """``?lang=`` wins; else the first Accept-Language entry (by q) we have; else the default."""
    if query_lang:
        found = _match(query_lang)
        if found:
            return found
    if accept_language:
        ranked: list[tuple[float, int, str]] = []
        for i, part in enumerate(accept_language.split(",")):
            tag, _, params = part.strip().partition(";")
            q = 1.0
            if params.strip().startswith("q="):
                try:
                    q = float(params.strip()[2:])
                except ValueError:
                    q = 0.0
            ranked.append((-q, i, tag.strip()))
        for _q, _i, tag in sorted(ranked):
            found = _match(tag)
            if found:
                return found
    return default


def language(request: Request) -> Language:
    """The language of a request's messages (``?lang=``, ``Accept-Language``, the configured default)."""
    settings: Settings = request.app.state.settings
    return negotiate(
        request.query_params.get("lang"),
        request.headers.get("accept-language"),
        settings.api.default_language,
    )


def _match(tag: str) -> Language | None:
    t = tag.lower()
    if t.startswith("zh"):
        return "zh-CN"
    if t.startswith("en"):
        return "en-US"
    return None


def message(key: str, lang: Language, **params: object) -> str:
    """The text of ``key`` in ``lang`` with its fields filled (missing fields stay visible)."""
    texts = MESSAGES.get(key) or MESSAGES["processing"]
    text = texts[lang]
    try:
        return text.format(**params)
    except (KeyError, IndexError):
        return text
