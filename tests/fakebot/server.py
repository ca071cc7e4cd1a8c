"""The fake Bot API: Telegram's HTTP protocol and JSON shapes, on loopback.

The real python-telegram-bot ``Application`` reaches it through ``telegram.base_url``. Tests play
the users: they push updates (commands, messages, button presses) and read back what the bot sent.
Faults (any Telegram error, or a slow answer) can be injected per method and chat; every call
passes one place, ``_dispatch``, where the faults and the flood limits apply.

Updates reach the bot by polling (``getUpdates``) or, once the bot calls ``setWebhook``, by an
HTTP POST of each update's JSON to the webhook URL, as Telegram does:

    await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
    fake.send_text(chat, user, "/start")       # POSTed to /hook with the secret header
    await fake.wait_for(lambda: fake.webhook_deliveries)   # what the receiver answered
    await fake.post_to_webhook(fake.text_update(chat, user, "/start"), secret_token="wrong")

Delivery is in order, one update at a time; a non-2xx answer or an unreachable receiver is
recorded as ``last_error_*`` in getWebhookInfo and the same update is tried again after
``webhook_retry_delay``. While a webhook is set, getUpdates answers 409 Conflict.
``deleteWebhook`` returns to polling; what was not delivered stays pending unless
``drop_pending_updates``. Unlike Telegram, the fake accepts plain http and any port, because the
receiver under test listens on loopback; it ignores ``certificate``, ``ip_address`` and
``max_connections``, and any method call in the receiver's answer.

For benchmarks in another process: ``POST /_fake/messages`` plays users writing (and
``POST /_fake/presses`` pressing buttons), and ``GET /_fake/timings`` says, per update, when
getUpdates handed it out and when the bot's answer arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.fakebot.entities import EntityError, visible_text
from tests.fakebot.kinds import ChatKinds

DEFAULT_TOKEN = "123456:TEST-token-that-must-never-be-logged"
MAX_TEXT_LENGTH = 4096
GROUP_ANONYMOUS_BOT = {
    "id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot",
}  # fmt: skip

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Where a sent message keeps the reply keyboard (or its removal) it showed the user.
KEYBOARD = "keyboard_shown"
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]*")
# What a webhook (or getUpdates) gets when allowed_updates is empty or was never given.
NOT_DELIVERED_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
GET_UPDATES_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active;"
    " use deleteWebhook to delete the webhook first"
)

T = TypeVar("T")
Json = dict[str, Any]


class ApiError(Exception):
    """An answer with ``ok: false``, shaped as Telegram shapes it."""

    def __init__(self, code: int, description: str, **parameters: Any) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> Json:
        body: Json = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass(frozen=True)
class UserRef:
    id: int
    first_name: str = "Supporter"
    language_code: str | None = None  # the user's Telegram app, e.g. "ru" or "kk-KZ"

    def to_dict(self) -> Json:
        user: Json = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.language_code:
            user["language_code"] = self.language_code
        return user


@dataclass(frozen=True)
class ChatRef:
    id: int
    type: str  # private, group, supergroup, channel
    title: str | None = None
    is_forum: bool = False  # a supergroup with topics

    def to_dict(self) -> Json:
        if self.type == "private":
            return {"id": self.id, "type": "private", "first_name": "Supporter"}
        chat: Json = {"id": self.id, "type": self.type, "title": self.title or "Supporters"}
        if self.is_forum:
            chat["is_forum"] = True
        return chat


@dataclass
class Fault:
    """Answer ``error`` (or wait ``delay`` seconds first) instead of handling the call.

    ``method`` and ``chat_id`` of None match any; ``times`` of None means every time.
    """

    method: str | None = None
    chat_id: int | None = None
    error: ApiError | None = None
    delay: float = 0.0
    times: int | None = None

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.times == 0:
            return False
        if self.method is not None and self.method.lower() != method:
            return False
        return self.chat_id is None or self.chat_id == chat_id


@dataclass
class UpdateTiming:
    """When an update left the fake and when the bot's answer to it arrived (wall clock).

    The answer is the first sendMessage to the update's chat after the update was handed out
    (the oldest unanswered update of a chat takes it), timed at arrival, before the fake's latency
    and whether or not the flood limits refused it; ``status`` is the HTTP status it got.
    """

    update_id: int
    chat_id: int
    handed_at: float | None = None
    answered_at: float | None = None
    status: int | None = None
    text: str | None = None  # the answer as the bot sent it (HTML)

    def to_dict(self) -> Json:
        return {
            "update_id": self.update_id,
            "chat_id": self.chat_id,
            "handed_at": self.handed_at,
            "answered_at": self.answered_at,
            "status": self.status,
            "text": self.text,
        }


@dataclass
class Call:
    """One request the bot made, with its parameters decoded.

    ``at`` is when it arrived (monotonic clock), taken as soon as its headers were read, before
    its body: the moment Telegram's flood limits count it.
    """

    method: str
    params: Json
    at: float
    error: ApiError | None = None


class Params:
    """A request's parameters, whether sent as a form (as PTB does) or as JSON."""

    def __init__(self, raw: Json) -> None:
        self.raw = raw

    def get(self, name: str) -> Any:
        return self.raw.get(name)

    def int(self, name: str, default: int | None = None) -> int:
        value = self.raw.get(name, default)
        if value is None:
            raise bad_request(f"{name} is required")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"{name} must be an integer") from None

    def optional_int(self, name: str) -> int | None:
        return None if self.raw.get(name) is None else self.int(name)

    def bool(self, name: str) -> bool:
        """A flag sent as a form field ("true", "True") or as a JSON boolean."""
        return str(self.raw.get(name)).lower() in {"true", "1"}

    def str(self, name: str, default: str | None = None) -> str:
        value = self.raw.get(name, default)
        if value is None:
            raise bad_request(f"{name} is required")
        return str(value)

    def json(self, name: str) -> Any:
        value = self.raw.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def decoded(self) -> Json:
        """Every parameter, JSON-looking strings decoded, for tests to inspect."""
        out: Json = {}
        for name, value in self.raw.items():
            if isinstance(value, str) and value[:1] in "[{":
                try:
                    out[name] = json.loads(value)
                    continue
                except json.JSONDecodeError:
                    pass
            out[name] = value
        return out


Handler = Callable[[Params], Awaitable[Any]]
MAX_CAPTION_LENGTH = 1024


@dataclass(frozen=True)
class UploadedFile:
    """A file the bot uploaded in a multipart form (sendDocument)."""

    filename: str
    content_type: str
    data: bytes

    @classmethod
    def of(cls, field: web.FileField) -> UploadedFile:
        return cls(field.filename, field.content_type, field.file.read())


@dataclass
class Webhook:
    """The webhook the bot set: where updates go, and how the last delivery failed."""

    url: str
    secret_token: str | None
    allowed_updates: list[str]
    last_error_date: int | None = None
    last_error_message: str | None = None

    def wants(self, update: Json) -> bool:
        """Whether an update of this kind is delivered under allowed_updates."""
        kind = next(key for key in update if key != "update_id")
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in NOT_DELIVERED_BY_DEFAULT


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the webhook: the receiver's status, or why it was not reached."""

    update_id: int
    url: str
    status: int | None
    error: str | None
    at: float

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Messages(dict[tuple[int, int], Json]):
    """The bot's messages by (chat id, message id), counted per chat as they come and go, so
    that a test waiting on "every chat has its message" costs the fake's loop nothing (a scan
    per request would stall it, and a stalled fake stamps arrivals late and in bunches)."""

    def __init__(self) -> None:
        super().__init__()
        self._per_chat: Counter[int] = Counter()

    def __setitem__(self, key: tuple[int, int], message: Json) -> None:
        if key not in self:
            self._per_chat[key[0]] += 1
        super().__setitem__(key, message)

    def __delitem__(self, key: tuple[int, int]) -> None:
        super().__delitem__(key)
        self._per_chat[key[0]] -= 1

    def pop(self, key: tuple[int, int], *default: Any) -> Any:  # type: ignore[override]
        if key in self:
            self._per_chat[key[0]] -= 1
        return super().pop(key, *default)

    def count(self, chat_id: int) -> int:
        return self._per_chat[chat_id]


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's flood limits as the fake enforces them on sendMessage, at arrival."""

    per_second: int = 30
    chat_interval: float = 1.0
    # A person's chat takes a short burst ("short bursts tolerated"): at most this many in
    # chat_burst * chat_interval seconds. Groups and channels keep a second apart.
    chat_burst: int = 5
    group_per_minute: int = 20
    group_window: float = 60.0
    paid_per_second: int = 1000


def busiest(times: Sequence[float], window: float) -> int:
    """The most arrivals in any half-open window of ``window`` seconds, as the flood limits
    count them (for tests and benchmarks that measure a sender's pace)."""
    ordered = sorted(times)
    most, first = 0, 0
    for last, at in enumerate(ordered):
        while at - ordered[first] >= window:
            first += 1
        most = max(most, last - first + 1)
    return most


class FloodControl:
    """Answers 429 with retry_after, as Telegram does, when a client goes past the limits."""

    def __init__(self, limits: FloodLimits) -> None:
        self.limits = limits
        self._recent: deque[float] = deque()
        self._last_to_chat: dict[int, float] = {}
        self._to_person: dict[int, deque[float]] = {}
        self._to_group: dict[int, deque[float]] = {}

    def admit(self, chat_id: int, now: float, *, paid: bool) -> None:
        """Count a message, or raise a 429 ApiError saying how long to wait."""
        per_second = self.limits.paid_per_second if paid else self.limits.per_second
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        waits = []
        if len(self._recent) >= per_second:
            waits.append(self._recent[0] + 1.0 - now)
        if chat_id > 0:
            burst = self._to_person.setdefault(chat_id, deque())
            span = self.limits.chat_burst * self.limits.chat_interval
            while burst and now - burst[0] >= span:
                burst.popleft()
            if len(burst) >= self.limits.chat_burst:
                waits.append(burst[0] + span - now)
        else:
            last = self._last_to_chat.get(chat_id)
            if last is not None and now - last < self.limits.chat_interval:
                waits.append(last + self.limits.chat_interval - now)
        group = self._to_group.get(chat_id)
        if group is not None:
            window = self.limits.group_window
            while group and now - group[0] >= window:
                group.popleft()
            if len(group) >= self.limits.group_per_minute:
                waits.append(group[0] + window - now)
        if waits:
            retry_after = max(1, math.ceil(max(waits)))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after
            )
        self._recent.append(now)
        self._last_to_chat[chat_id] = now
        if chat_id > 0:
            self._to_person[chat_id].append(now)
        if chat_id < 0:
            self._to_group.setdefault(chat_id, deque()).append(now)


@dataclass
class FakeBotApi(ChatKinds):
    """State of one fake bot and the Telegram around it (channels, forums and the bot's own
    membership: ``tests.fakebot.kinds``)."""

    token: str = DEFAULT_TOKEN
    bot_id: int = 123456
    bot_username: str = "hearing_watch_test_bot"
    # Longest a getUpdates call waits; short, so that a bot under test stops quickly.
    max_long_poll: float = 0.25
    # Seconds every call takes besides its work: a real round trip to Telegram is ~100 ms.
    latency: float = 0.0
    # Telegram's flood limits, enforced on sendMessage when set.
    limits: FloodLimits | None = None
    too_many_requests: int = 0  # 429s answered
    # Wall-clock arrival of the first and last sendMessage that went through (for benchmarks).
    first_send_at: float | None = None
    last_send_at: float | None = None
    # Webhook mode: the pause before an update the receiver refused is sent again (Telegram
    # waits longer), and how long a POST may take.
    webhook_retry_delay: float = 0.2
    # The reverse proxy in front of the bot: where a POST to the registered (public, https) URL
    # really goes, e.g. "http://127.0.0.1:8080". None: to the registered URL itself.
    webhook_forward_to: str | None = None
    webhook_timeout: float = 5.0
    webhook: Webhook | None = None
    # Every POST to a webhook, in order, with what the receiver answered.
    webhook_deliveries: list[WebhookDelivery] = field(default_factory=list)

    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    chats: dict[int, ChatRef] = field(default_factory=dict)
    members: dict[tuple[int, int], str] = field(default_factory=dict)
    # What the bot sent, by (chat id, message id), as the recipient sees it now.
    messages: Messages = field(default_factory=Messages)
    commands: dict[str, list[Json]] = field(default_factory=dict)
    callback_answers: list[Json] = field(default_factory=list)
    # Per update with a chat: when it was handed out and answered (see UpdateTiming).
    timings: dict[int, UpdateTiming] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._updates: list[Json] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._flood = FloodControl(self.limits) if self.limits else None
        self._webhook_task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        # allowed_updates persists when setWebhook is called without it, as in Telegram.
        self._allowed_updates: list[str] = []
        self._unanswered: dict[int, deque[UpdateTiming]] = {}
        self.port = 0
        self._methods: dict[str, Handler] = {
            name.lower(): handler
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "setMyCommands": self._set_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "sendMessage": self._send_message,
                "sendDocument": self._send_document,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "answerCallbackQuery": self._answer_callback_query,
                "getChatMember": self._get_chat_member,
                "close": self._true,
                "logOut": self._true,
                **self._chat_kind_methods(),
            }.items()
        }
        self._init_chat_kinds()

    # --- serving -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What goes into ``[telegram] base_url``: PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    async def start(self) -> FakeBotApi:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_get("/_fake/stats", self._stats)
        app.router.add_get("/_fake/timings", self._timings)
        app.router.add_get("/_fake/arrivals", self._arrivals)
        app.router.add_post("/_fake/messages", self._messages)
        app.router.add_post("/_fake/presses", self._presses)
        app.router.add_get("/_fake/callback_answers", self._callback_answers)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        # A broadcast opens hundreds of connections at once; the default backlog (128) drops some.
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _stats(self, _request: web.Request) -> web.Response:
        """For a client in another process (the benchmark): what arrived where."""
        received: dict[int, int] = {}
        for chat_id, _ in self.messages:
            received[chat_id] = received.get(chat_id, 0) + 1
        return web.json_response(
            {
                "too_many_requests": self.too_many_requests,
                "received": received,
                "first_send_at": self.first_send_at,
                "last_send_at": self.last_send_at,
            }
        )

    async def _timings(self, _request: web.Request) -> web.Response:
        """For a client in another process: every update's timing, oldest first."""
        return web.json_response([t.to_dict() for t in self.timings.values()])

    async def _arrivals(self, _request: web.Request) -> web.Response:
        """For a client in another process: every sendMessage as ``[at, chat_id, status]``,
        ``at`` on the monotonic clock the flood limits count with (differences are seconds)."""
        return web.json_response(
            [
                [call.at, int(call.params["chat_id"]), call.error.code if call.error else 200]
                for call in self.calls_to("sendMessage")
                if "chat_id" in call.params
            ]
        )

    async def _messages(self, request: web.Request) -> web.Response:
        """For a client in another process: chats write ``[{chat_id, text}, ...]``, private
        ones unless the chat is a group the fake knows; an item may name its sender
        (``user_id``, else the chat's id) and be a forward of someone else's (``forwarded``)."""
        update_ids = []
        for item in await request.json():
            chat = self.chats.get(item["chat_id"]) or self.private_chat(UserRef(item["chat_id"]))
            user = UserRef(item.get("user_id", chat.id))
            if item.get("forwarded"):
                self.forward_text(chat, user, item["text"], origin=UserRef(1))
            else:
                self.send_text(chat, user, item["text"])
            update_ids.append(self._updates[-1]["update_id"])
        return web.json_response(update_ids)

    def _answer_arrived(self, call: Call, arrived: float, status: int) -> None:
        """The oldest handed-out, unanswered update of the chat counts this as its answer."""
        waiting = self._unanswered.get(int(call.params["chat_id"]))
        if waiting:
            timing = waiting.popleft()
            timing.answered_at = arrived
            timing.status = status
            timing.text = str(call.params.get("text", ""))[:500]

    async def _handle(self, request: web.Request) -> web.Response:
        # Arrival, as Telegram's flood limits count it: before the body is read.
        at, arrived = time.monotonic(), time.time()
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        raw: Json
        if request.content_type == "application/json":
            raw = await request.json()
        else:
            raw = {
                key: UploadedFile.of(value) if isinstance(value, web.FileField) else value
                for key, value in (await request.post()).items()
            }
            raw.update(request.query)
        method = request.match_info["method"].lower()
        params = Params(raw)
        call = Call(method, params.decoded(), at)
        status = 200
        try:
            result = await self._dispatch(method, params, at)
        except ApiError as error:
            call.error = error
            status = error.code
            await self._record(call, arrived, status)
            return web.json_response(error.body(), status=error.code)
        await self._record(call, arrived, status)
        return web.json_response({"ok": True, "result": result})

    async def _dispatch(self, method: str, params: Params, at: float) -> Any:
        handler = self._methods.get(method)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        raw_chat_id = params.raw.get("chat_id")
        chat_id = None if raw_chat_id is None else int(raw_chat_id)
        fault = next((f for f in self.faults if f.matches(method, chat_id)), None)
        if fault is not None:
            if fault.times is not None:
                fault.times -= 1
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.error is not None:
                raise fault.error
        if self._flood is not None and method == "sendmessage" and chat_id is not None:
            paid = str(params.get("allow_paid_broadcast")).lower() == "true"
            try:
                self._flood.admit(chat_id, at, paid=paid)
            except ApiError:
                self.too_many_requests += 1
                raise
        arrived = time.time()
        if self.latency:
            await asyncio.sleep(self.latency)
        result = await handler(params)
        if method == "sendmessage":
            self.first_send_at = self.first_send_at or arrived
            self.last_send_at = arrived
        return result

    async def _record(self, call: Call, arrived: float, status: int) -> None:
        if call.method != "getupdates":
            self.calls.append(call)
        chat_id = call.params.get("chat_id")
        if call.method == "sendmessage" and self._unanswered and chat_id is not None:
            self._answer_arrived(call, arrived, status)
        async with self._changed:
            self._changed.notify_all()

    # --- the users' side -----------------------------------------------------------------

    def private_chat(self, user: UserRef) -> ChatRef:
        """The private chat between ``user`` and the bot."""
        chat = ChatRef(user.id, "private")
        self.chats[chat.id] = chat
        return chat

    def group(
        self, chat_id: int, *, kind: str = "supergroup", title: str = "Supporters"
    ) -> ChatRef:
        """A group the bot was added to; members default to plain members."""
        chat = ChatRef(chat_id, kind, title)
        self.chats[chat.id] = chat
        return chat

    def block(self, chat: ChatRef) -> None:
        """The user blocked the bot (or the bot was kicked from the group)."""
        description = (
            "Forbidden: bot was blocked by the user"
            if chat.type == "private"
            else "Forbidden: bot was kicked from the group chat"
        )
        self.faults.append(Fault(chat_id=chat.id, error=ApiError(403, description)))

    def migrate(self, chat: ChatRef, new_id: int) -> ChatRef:
        """The group became a supergroup: its old id answers with migrate_to_chat_id."""
        supergroup = self.group(new_id, kind="supergroup", title=chat.title or "Supporters")
        error = ApiError(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            migrate_to_chat_id=new_id,
        )
        self.faults.append(Fault(chat_id=chat.id, error=error))
        return supergroup

    def upgrade(self, chat: ChatRef, new_id: int, by: UserRef) -> ChatRef:
        """``by`` turns the group into a supergroup, as Telegram announces it: a service message
        with ``migrate_to_chat_id`` in the old group, one with ``migrate_from_chat_id`` in the
        new supergroup, and the old id refusing sends from now on."""
        supergroup = self.migrate(chat, new_id)
        for where, field_name, value in (
            (chat, "migrate_to_chat_id", new_id),
            (supergroup, "migrate_from_chat_id", chat.id),
        ):
            self._push(
                "message",
                {
                    "message_id": next(self._message_ids),
                    "date": int(time.time()),
                    "chat": where.to_dict(),
                    "from": by.to_dict(),
                    field_name: value,
                },
            )
        return supergroup

    def received(self, chat_id: int) -> int:
        """How many messages the bot sent to a chat."""
        return self.messages.count(chat_id)

    def set_member(self, chat: ChatRef, user: UserRef, status: str) -> None:
        """'creator', 'administrator', 'member', 'restricted', 'left' or 'kicked'."""
        self.members[(chat.id, user.id)] = status

    def _push(self, kind: str, payload: Json) -> int:
        update_id = next(self._update_ids)
        self._updates.append({"update_id": update_id, kind: payload})
        # A message carries its chat; a button press, the chat of the message under it.
        chat = payload.get("chat") or payload.get("message", {}).get("chat")
        if chat is not None:
            self.timings[update_id] = UpdateTiming(update_id, chat["id"])
        asyncio.get_running_loop().create_task(self._notify())
        return update_id

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def send_text(
        self,
        chat: ChatRef,
        user: UserRef | None,
        text: str,
        *,
        as_chat: bool = False,
        thread: int | None = None,
    ) -> Json:
        """A user (or, with ``as_chat``, an anonymous group admin) writes in ``chat`` (in a
        forum, in the topic ``thread``; None: General)."""
        message = self._user_message(chat, user, text, as_chat=as_chat, thread=thread)
        self._push("message", message)
        return message

    def text_update(
        self, chat: ChatRef, user: UserRef | None, text: str, *, as_chat: bool = False
    ) -> Json:
        """An update carrying a user's message that is not queued: for ``post_to_webhook``."""
        message = self._user_message(chat, user, text, as_chat=as_chat)
        return {"update_id": next(self._update_ids), "message": message}

    def _user_message(
        self,
        chat: ChatRef,
        user: UserRef | None,
        text: str,
        *,
        as_chat: bool,
        thread: int | None = None,
    ) -> Json:
        message: Json = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat.to_dict(),
            "text": text,
        }
        if thread is not None:
            message.update(message_thread_id=thread, is_topic_message=True)
        if as_chat:
            message["from"] = GROUP_ANONYMOUS_BOT
            message["sender_chat"] = chat.to_dict()
        elif user is not None:
            message["from"] = user.to_dict()
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return message

    def press(self, chat: ChatRef, user: UserRef, message: Json, data: str) -> str:
        """``user`` presses the button with callback ``data`` under the bot's ``message``."""
        query_id = str(next(self._callback_ids))
        shown = self.messages.get((chat.id, message["message_id"]), message)
        self._push(
            "callback_query",
            {
                "id": query_id,
                "from": user.to_dict(),
                "chat_instance": f"instance-{chat.id}",
                "data": data,
                "message": shown,
            },
        )
        return query_id

    # --- reply keyboards, shared users, forwarded messages ---------------------------------

    @staticmethod
    def _attach_markup(message: Json, markup: Json | None) -> None:
        """Inline buttons belong to the message; a reply keyboard (or its removal) is shown
        to the user instead (kept under KEYBOARD as well, for ``reply_keyboard``), and Telegram
        leaves it out of the message it returns (``_as_returned``)."""
        if not markup:
            return
        message["reply_markup"] = markup
        if "inline_keyboard" not in markup:
            message[KEYBOARD] = markup

    def reply_keyboard(self, chat_id: int) -> Json | None:
        """The reply keyboard the user sees in a chat now (the latest one sent and not
        removed), or None."""
        for message in reversed(self.sent_to(chat_id)):
            markup = message.get(KEYBOARD)
            if markup is not None:
                return None if markup.get("remove_keyboard") else markup
        return None

    def share_user(self, chat: ChatRef, user: UserRef, request_id: int, shared: UserRef) -> Json:
        """``user`` picks ``shared`` with the person picker of request ``request_id``: the
        message with ``users_shared`` that Telegram sends the bot (names asked for included)."""
        message: Json = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat.to_dict(),
            "from": user.to_dict(),
            "users_shared": {
                "request_id": request_id,
                "users": [{"user_id": shared.id, "first_name": shared.first_name}],
            },
        }
        self._push("message", message)
        return message

    def forward_text(
        self, chat: ChatRef, user: UserRef, text: str, *, origin: UserRef | None = None
    ) -> Json:
        """``user`` forwards into ``chat`` a message ``origin`` wrote (``forward_origin``, Bot API
        7.0; a command in it keeps its entity, as Telegram keeps it); with no origin, ``user``
        sends ``text`` through an inline bot (``via_bot``)."""
        message = self._user_message(chat, user, text, as_chat=False)
        if origin is not None:
            message["forward_origin"] = {
                "type": "user",
                "date": int(time.time()) - 60,
                "sender_user": origin.to_dict(),
            }
        else:
            message["via_bot"] = {"id": 4242, "is_bot": True, "first_name": "Inline"}
        self._push("message", message)
        return message

    # --- what the bot did ----------------------------------------------------------------

    def sent_to(self, chat_id: int) -> list[Json]:
        """The bot's messages in a chat, oldest first, as they look now."""
        return [m for (cid, _), m in sorted(self.messages.items()) if cid == chat_id]

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method.lower()]

    async def wait_for(self, probe: Callable[[], T | None], seconds: float = 5.0) -> T:
        """Wait until ``probe()`` returns something truthy, and return it."""
        async with asyncio.timeout(seconds):
            async with self._changed:
                while True:
                    result = probe()
                    if result:
                        return result
                    await self._changed.wait()

    async def say(
        self,
        chat: ChatRef,
        user: UserRef | None,
        text: str,
        *,
        as_chat: bool = False,
        seconds: float = 5.0,
        thread: int | None = None,
    ) -> Json:
        """Send ``text`` and return the bot's first message in the chat that follows it."""
        before = len(self.sent_to(chat.id))
        self.send_text(chat, user, text, as_chat=as_chat, thread=thread)
        return await self.wait_for(
            lambda: self.sent_to(chat.id)[before] if len(self.sent_to(chat.id)) > before else None,
            seconds,
        )

    async def click(self, chat: ChatRef, user: UserRef, message: Json, data: str) -> Json:
        """Press a button and return the bot's answer to the press."""
        query_id = self.press(chat, user, message, data)
        return await self.wait_for(
            lambda: next(
                (a for a in self.callback_answers if a["callback_query_id"] == query_id), None
            )
        )

    # --- methods -------------------------------------------------------------------------

    def _bot_user(self) -> Json:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Hearing Watch",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _true(self, _params: Params) -> bool:
        return True

    async def _get_me(self, _params: Params) -> Json:
        return self._bot_user()

    async def _get_updates(self, params: Params) -> list[Json]:
        if self.webhook is not None:
            raise ApiError(409, GET_UPDATES_CONFLICT)
        offset = params.int("offset", 0)
        limit = params.int("limit", 100)
        allowed = params.json("allowed_updates")
        if allowed is not None:  # kept for later calls, as Telegram does
            self._allowed_updates = list(allowed)
        wait = min(float(params.get("timeout") or 0), self.max_long_poll)
        if offset:
            # Telegram forgets every update below the offset once asked with it.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and wait > 0:
            try:
                async with asyncio.timeout(wait), self._changed:
                    await self._changed.wait_for(
                        lambda: bool(self._updates) or self.webhook is not None
                    )
            except TimeoutError:
                pass
            if self.webhook is not None:  # set while this call waited
                raise ApiError(409, GET_UPDATES_CONFLICT)
        # Updates of a kind not allowed are never delivered (Telegram drops them).
        hook = Webhook("", None, list(self._allowed_updates))
        self._updates = [u for u in self._updates if hook.wants(u)]
        handed = self._updates[:limit]
        self._handed(handed)
        return handed

    def _handed(self, updates: list[Json]) -> None:
        """Updates leave for the bot (by getUpdates or a webhook post): their timings start."""
        now = time.time()
        for update in updates:
            timing = self.timings.get(update["update_id"])
            if timing is not None and timing.handed_at is None:
                timing.handed_at = now
                self._unanswered.setdefault(timing.chat_id, deque()).append(timing)

    # --- webhook ---------------------------------------------------------------------------

    async def _set_webhook(self, params: Params) -> bool:
        url = params.str("url", "")
        if not url:  # Telegram takes an empty url as "remove the webhook"
            return await self._delete_webhook(params)
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"}:
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if not parts.hostname:
            raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
        secret = params.get("secret_token") or None
        if secret is not None:
            # Telegram's own wording; it is not a "bad webhook:" error.
            if len(secret) > 256:
                raise bad_request("secret token is too long")
            if not SECRET_TOKEN.fullmatch(secret):
                raise bad_request("secret token contains unallowed characters")
        allowed = params.json("allowed_updates")
        if allowed is not None:
            self._allowed_updates = list(allowed)
        if params.bool("drop_pending_updates"):
            self._updates.clear()
        self.webhook = Webhook(url, secret, list(self._allowed_updates))
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.get_running_loop().create_task(self._deliver())
        await self._notify()
        return True

    async def _delete_webhook(self, params: Params) -> bool:
        if params.bool("drop_pending_updates"):
            self._updates.clear()
        self.webhook = None
        await self._notify()  # the delivery task sees it and ends
        return True

    async def _get_webhook_info(self, _params: Params) -> Json:
        info: Json = {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        hook = self.webhook
        if hook is not None:
            info.update(url=hook.url, max_connections=40, ip_address="127.0.0.1")
            if hook.allowed_updates:
                info["allowed_updates"] = hook.allowed_updates
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    async def _deliver(self) -> None:
        """POST pending updates to the webhook, oldest first, until it is deleted."""
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: self.webhook is None or bool(self._updates))
            hook = self.webhook
            if hook is None:
                return
            update = self._updates[0]
            self._handed([update])  # timed as getUpdates times what it hands out
            if hook.wants(update) and not await self._post(hook, update):
                await asyncio.sleep(self.webhook_retry_delay)
                continue
            if self._updates and self._updates[0] is update:
                self._updates.pop(0)
            await self._notify()

    async def _post(self, hook: Webhook, update: Json) -> bool:
        status, reason, error = await self._send_to_webhook(hook.url, update, hook.secret_token)
        self.webhook_deliveries.append(
            WebhookDelivery(update["update_id"], hook.url, status, error, time.monotonic())
        )
        delivered = status is not None and 200 <= status < 300
        if not delivered:
            hook.last_error_date = int(time.time())
            hook.last_error_message = (
                error if status is None else f"Wrong response from the webhook: {status} {reason}"
            )
        await self._notify()  # for tests waiting on webhook_deliveries
        return delivered

    async def _send_to_webhook(
        self, url: str, body: Json, secret_token: str | None
    ) -> tuple[int | None, str, str | None]:
        """(status, reason, None), or (None, "", why) when the receiver was not reached."""
        if self.webhook_forward_to is not None:
            parts = urlsplit(url)
            url = (
                self.webhook_forward_to.rstrip("/")
                + parts.path
                + (f"?{parts.query}" if parts.query else "")
            )
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)
            )
        headers = {} if secret_token is None else {SECRET_HEADER: secret_token}
        try:
            async with self._http.post(url, json=body, headers=headers) as response:
                await response.read()
                return response.status, response.reason or "", None
        except TimeoutError:
            return None, "", "Read timeout expired"
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                return None, "", "Connection refused"  # Telegram's words
            return None, "", f"Connection failed: {exc.os_error}"
        except aiohttp.ClientConnectionError as exc:
            return None, "", f"Connection failed: {exc}"

    async def post_to_webhook(self, update: Json, *, secret_token: str | None) -> int:
        """POST ``update`` to the webhook with this secret (None: no header); the status.

        For tests of a receiver's checks: nothing is recorded or retried.
        """
        if self.webhook is None:
            raise RuntimeError("no webhook is set")
        status, _, error = await self._send_to_webhook(self.webhook.url, update, secret_token)
        if status is None:
            raise ConnectionError(error)
        return status

    @staticmethod
    def menu_key(scope: Json | None = None, language: str | None = None) -> str:
        """Where ``commands`` keeps the menu of a scope (default: everyone) and language."""
        key = json.dumps(scope or {"type": "default"}, sort_keys=True)
        return f"{key}|{language}" if language else key

    async def _set_my_commands(self, params: Params) -> bool:
        key = self.menu_key(params.json("scope"), params.get("language_code"))
        self.commands[key] = params.json("commands")
        return True

    async def _delete_my_commands(self, params: Params) -> bool:
        self.commands.pop(self.menu_key(params.json("scope"), params.get("language_code")), None)
        return True

    def _chat(self, params: Params) -> ChatRef:
        chat = self.chats.get(params.int("chat_id"))
        if chat is None:
            raise bad_request("chat not found")
        return chat

    @staticmethod
    def _render(params: Params) -> tuple[str, str]:
        text = params.str("text")
        try:
            visible = visible_text(text, params.get("parse_mode"))
        except EntityError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
        if not visible.strip():
            raise bad_request("message text is empty")
        if len(visible.encode("utf-16-le")) // 2 > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return text, visible

    async def _send_message(self, params: Params) -> Json:
        chat = self._chat(params)
        thread_id = self._thread_for(chat, params)
        html_text, visible = self._render(params)
        message: Json = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat.to_dict(),
            "from": self._bot_user(),
            "text": visible,
            "html": html_text,
        }
        if thread_id is not None:
            message.update(message_thread_id=thread_id, is_topic_message=True)
        self._attach_markup(message, params.json("reply_markup"))
        self.messages[(chat.id, message["message_id"])] = message
        return {k: v for k, v in self._as_returned(message).items() if k != KEYBOARD}

    async def _send_document(self, params: Params) -> Json:
        """A document uploaded with the call (a file_id or URL is not supported here)."""
        chat = self._chat(params)
        upload = params.get("document")
        if not isinstance(upload, UploadedFile):
            raise bad_request("there is no document in the request")
        if not upload.data:
            raise bad_request("file must be non-empty")
        message_id = next(self._message_ids)
        message: Json = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat.to_dict(),
            "from": self._bot_user(),
            "document": {
                "file_id": f"document-{message_id}",
                "file_unique_id": f"unique-{message_id}",
                "file_name": upload.filename,
                "mime_type": upload.content_type,
                "file_size": len(upload.data),
            },
        }
        caption = params.get("caption")
        if caption:
            try:
                visible = visible_text(str(caption), params.get("parse_mode"))
            except EntityError as exc:
                raise bad_request(f"can't parse entities: {exc}") from None
            if len(visible.encode("utf-16-le")) // 2 > MAX_CAPTION_LENGTH:
                raise bad_request("message caption is too long")
            message["caption"] = visible
            message["html"] = str(caption)
        markup = params.json("reply_markup")
        if markup:
            message["reply_markup"] = markup
        # What tests read back: the file as the recipient would download it.
        message["file"] = upload
        self.messages[(chat.id, message_id)] = message
        return {k: v for k, v in message.items() if k not in ("html", "file")}

    def _existing(self, params: Params) -> Json:
        chat = self._chat(params)
        message = self.messages.get((chat.id, params.int("message_id")))
        if message is None:
            raise bad_request("message to edit not found")
        return message

    async def _edit_message_text(self, params: Params) -> Json:
        message = self._existing(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        html_text, visible = self._render(params)
        markup = params.json("reply_markup")
        if html_text == message["html"] and markup == message.get("reply_markup"):
            raise bad_request(
                "message is not modified: specified new message content and reply markup are"
                " exactly the same as a current content and reply markup of the message"
            )
        message.update(text=visible, html=html_text, edit_date=int(time.time()))
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return {k: v for k, v in message.items() if k != "html"}

    async def _edit_message_reply_markup(self, params: Params) -> Json:
        message = self._existing(params)
        markup = params.json("reply_markup")
        if markup == message.get("reply_markup"):
            raise bad_request("message is not modified")
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return {k: v for k, v in message.items() if k != "html"}

    async def _answer_callback_query(self, params: Params) -> bool:
        self.callback_answers.append(params.decoded())
        return True

    async def _get_chat_member(self, params: Params) -> Json:
        chat = self._chat(params)
        self._require_bot_in(chat)
        return self._member_json(chat, params.int("user_id"))
