"""The fake Bot API: Telegram's HTTP protocol and JSON shapes, on loopback.

The real python-telegram-bot ``Application`` reaches it through ``telegram.base_url``. Tests play
the users: they push updates (commands, messages, button presses) and read back what the bot sent.
Faults (any Telegram error, or a slow answer) can be injected per method and chat; every call
passes one place, ``_dispatch``, where later limits hook in.

For benchmarks in another process: ``POST /_fake/messages`` plays users writing, and
``GET /_fake/timings`` says, per update, when getUpdates handed it out and when the bot's answer
arrived.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from tests.fakebot.entities import EntityError, visible_text

DEFAULT_TOKEN = "123456:TEST-token-that-must-never-be-logged"
MAX_TEXT_LENGTH = 4096
GROUP_ANONYMOUS_BOT = {
    "id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot",
}  # fmt: skip

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

    def to_dict(self) -> Json:
        return {"id": self.id, "is_bot": False, "first_name": self.first_name}


@dataclass(frozen=True)
class ChatRef:
    id: int
    type: str  # private, group, supergroup, channel
    title: str | None = None

    def to_dict(self) -> Json:
        if self.type == "private":
            return {"id": self.id, "type": "private", "first_name": "Supporter"}
        return {"id": self.id, "type": self.type, "title": self.title or "Supporters"}


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

    def to_dict(self) -> Json:
        return {
            "update_id": self.update_id,
            "chat_id": self.chat_id,
            "handed_at": self.handed_at,
            "answered_at": self.answered_at,
            "status": self.status,
        }


@dataclass
class Call:
    """One request the bot made, with its parameters decoded."""

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


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's flood limits as the fake enforces them on sendMessage, at arrival."""

    per_second: int = 30
    chat_interval: float = 1.0
    group_per_minute: int = 20
    group_window: float = 60.0
    paid_per_second: int = 1000


class FloodControl:
    """Answers 429 with retry_after, as Telegram does, when a client goes past the limits."""

    def __init__(self, limits: FloodLimits) -> None:
        self.limits = limits
        self._recent: deque[float] = deque()
        self._last_to_chat: dict[int, float] = {}
        self._to_group: dict[int, deque[float]] = {}

    def admit(self, chat_id: int, now: float, *, paid: bool) -> None:
        """Count a message, or raise a 429 ApiError saying how long to wait."""
        per_second = self.limits.paid_per_second if paid else self.limits.per_second
        while self._recent and now - self._recent[0] >= 1.0:
            self._recent.popleft()
        waits = []
        if len(self._recent) >= per_second:
            waits.append(self._recent[0] + 1.0 - now)
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
        if chat_id < 0:
            self._to_group.setdefault(chat_id, deque()).append(now)


@dataclass
class FakeBotApi:
    """State of one fake bot and the Telegram around it."""

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

    calls: list[Call] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    chats: dict[int, ChatRef] = field(default_factory=dict)
    members: dict[tuple[int, int], str] = field(default_factory=dict)
    # What the bot sent, by (chat id, message id), as the recipient sees it now.
    messages: dict[tuple[int, int], Json] = field(default_factory=dict)
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
        self._unanswered: dict[int, deque[UpdateTiming]] = {}
        self.port = 0
        self._methods: dict[str, Handler] = {
            name.lower(): handler
            for name, handler in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "deleteWebhook": self._true,
                "setMyCommands": self._set_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "answerCallbackQuery": self._answer_callback_query,
                "getChatMember": self._get_chat_member,
                "close": self._true,
                "logOut": self._true,
            }.items()
        }

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
        app.router.add_post("/_fake/messages", self._messages)
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

    async def _messages(self, request: web.Request) -> web.Response:
        """For a client in another process: private chats write ``[{chat_id, text}, ...]``."""
        update_ids = []
        for item in await request.json():
            chat = self.chats.get(item["chat_id"]) or self.private_chat(UserRef(item["chat_id"]))
            self.send_text(chat, UserRef(chat.id), item["text"])
            update_ids.append(self._updates[-1]["update_id"])
        return web.json_response(update_ids)

    def _answer_arrived(self, chat_id: int, arrived: float, status: int) -> None:
        """The oldest handed-out, unanswered update of the chat counts this as its answer."""
        waiting = self._unanswered.get(chat_id)
        if waiting:
            timing = waiting.popleft()
            timing.answered_at = arrived
            timing.status = status

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        raw: Json
        if request.content_type == "application/json":
            raw = await request.json()
        else:
            raw = {key: value for key, value in (await request.post()).items()}
            raw.update(request.query)
        method = request.match_info["method"].lower()
        params = Params(raw)
        call = Call(method, params.decoded(), time.monotonic())
        arrived = time.time()
        status = 200
        try:
            result = await self._dispatch(method, params)
        except ApiError as error:
            call.error = error
            status = error.code
            await self._record(call, arrived, status)
            return web.json_response(error.body(), status=error.code)
        await self._record(call, arrived, status)
        return web.json_response({"ok": True, "result": result})

    async def _dispatch(self, method: str, params: Params) -> Any:
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
                self._flood.admit(chat_id, time.monotonic(), paid=paid)
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
            self._answer_arrived(int(chat_id), arrived, status)
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

    def received(self, chat_id: int) -> int:
        """How many messages the bot sent to a chat."""
        return sum(1 for (cid, _) in self.messages if cid == chat_id)

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
        self, chat: ChatRef, user: UserRef | None, text: str, *, as_chat: bool = False
    ) -> Json:
        """A user (or, with ``as_chat``, an anonymous group admin) writes in ``chat``."""
        message: Json = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat.to_dict(),
            "text": text,
        }
        if as_chat:
            message["from"] = GROUP_ANONYMOUS_BOT
            message["sender_chat"] = chat.to_dict()
        elif user is not None:
            message["from"] = user.to_dict()
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self._push("message", message)
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
    ) -> Json:
        """Send ``text`` and return the bot's first message in the chat that follows it."""
        before = len(self.sent_to(chat.id))
        self.send_text(chat, user, text, as_chat=as_chat)
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
        offset = params.int("offset", 0)
        limit = params.int("limit", 100)
        wait = min(float(params.get("timeout") or 0), self.max_long_poll)
        if offset:
            # Telegram forgets every update below the offset once asked with it.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates and wait > 0:
            try:
                async with asyncio.timeout(wait), self._changed:
                    await self._changed.wait_for(lambda: bool(self._updates))
            except TimeoutError:
                pass
        handed = self._updates[:limit]
        now = time.time()
        for update in handed:
            timing = self.timings.get(update["update_id"])
            if timing is not None and timing.handed_at is None:
                timing.handed_at = now
                self._unanswered.setdefault(timing.chat_id, deque()).append(timing)
        return handed

    async def _set_my_commands(self, params: Params) -> bool:
        scope = params.json("scope") or {"type": "default"}
        self.commands[json.dumps(scope, sort_keys=True)] = params.json("commands")
        return True

    async def _delete_my_commands(self, params: Params) -> bool:
        scope = params.json("scope") or {"type": "default"}
        self.commands.pop(json.dumps(scope, sort_keys=True), None)
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
        html_text, visible = self._render(params)
        message: Json = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat.to_dict(),
            "from": self._bot_user(),
            "text": visible,
            "html": html_text,
        }
        markup = params.json("reply_markup")
        if markup:
            message["reply_markup"] = markup
        self.messages[(chat.id, message["message_id"])] = message
        return {k: v for k, v in message.items() if k != "html"}

    def _existing(self, params: Params) -> Json:
        chat = self._chat(params)
        message = self.messages.get((chat.id, params.int("message_id")))
        if message is None:
            raise bad_request("message to edit not found")
        return message

    async def _edit_message_text(self, params: Params) -> Json:
        message = self._existing(params)
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
        user_id = params.int("user_id")
        status = self.members.get((chat.id, user_id), "member")
        member: Json = {"status": status, "user": UserRef(user_id).to_dict()}
        if status == "administrator":
            member.update(
                can_be_edited=False, is_anonymous=False, can_manage_chat=True,
                can_delete_messages=True, can_manage_video_chats=True, can_restrict_members=True,
                can_promote_members=False, can_change_info=True, can_invite_users=True,
                can_post_stories=False, can_edit_stories=False, can_delete_stories=False,
            )  # fmt: skip
        elif status == "creator":
            member["is_anonymous"] = False
        elif status == "restricted":
            member.update(
                is_member=True, can_send_messages=True, can_send_audios=True,
                can_send_documents=True, can_send_photos=True, can_send_videos=True,
                can_send_video_notes=True, can_send_voice_notes=True, can_send_polls=True,
                can_send_other_messages=True, can_add_web_page_previews=True,
                can_change_info=False, can_invite_users=False, can_pin_messages=False,
                can_manage_topics=False, until_date=0,
            )  # fmt: skip
        elif status == "kicked":
            member["until_date"] = 0
        return member
