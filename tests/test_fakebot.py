"""The fake Bot API answers as Telegram does, so that tests against it mean something."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakebot import ApiError, FakeBotApi, Fault, UserRef
from tests.fakebot.entities import EntityError, visible_text
from tests.fakebot.server import SECRET_HEADER, Json


@pytest.fixture
async def client(fake: FakeBotApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{fake.base_url}{fake.token}/") as http:
        yield http


async def test_wrong_token_is_unauthorized(fake: FakeBotApi) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{fake.base_url}1:wrong/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_unknown_method_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("noSuchMethod")
    assert response.json()["error_code"] == 404


async def test_send_to_unknown_chat_is_chat_not_found(client: httpx.AsyncClient) -> None:
    response = await client.post("sendMessage", data={"chat_id": "5", "text": "hi"})
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: chat not found"


async def test_bad_html_is_refused_like_telegram(
    fake: FakeBotApi, client: httpx.AsyncClient
) -> None:
    chat = fake.private_chat(UserRef(5))
    for text in ("<b>open", "a < b", "<script>x</script>", "fish & chips"):
        response = await client.post(
            "sendMessage", data={"chat_id": str(chat.id), "text": text, "parse_mode": "HTML"}
        )
        assert response.status_code == 400, text
        assert "can't parse entities" in response.json()["description"]


async def test_too_long_text_is_refused(fake: FakeBotApi, client: httpx.AsyncClient) -> None:
    chat = fake.private_chat(UserRef(5))
    response = await client.post("sendMessage", data={"chat_id": str(chat.id), "text": "x" * 4097})
    assert response.json()["description"] == "Bad Request: message is too long"


async def test_unchanged_edit_is_not_modified(fake: FakeBotApi, client: httpx.AsyncClient) -> None:
    chat = fake.private_chat(UserRef(5))
    sent = (await client.post("sendMessage", json={"chat_id": chat.id, "text": "hi"})).json()
    edit = {"chat_id": chat.id, "message_id": sent["result"]["message_id"], "text": "hi"}
    response = await client.post("editMessageText", json=edit)
    assert "message is not modified" in response.json()["description"]


async def test_injected_fault_answers_in_telegrams_shape(
    fake: FakeBotApi, client: httpx.AsyncClient
) -> None:
    chat = fake.private_chat(UserRef(5))
    fake.faults.append(
        Fault(
            chat_id=chat.id,
            error=ApiError(429, "Too Many Requests: retry after 3", retry_after=3),
            times=1,
        )
    )
    first = await client.post("sendMessage", json={"chat_id": chat.id, "text": "hi"})
    assert first.status_code == 429
    assert first.json()["parameters"] == {"retry_after": 3}
    second = await client.post("sendMessage", json={"chat_id": chat.id, "text": "hi"})
    assert second.json()["ok"] is True


async def test_timings_pair_each_update_with_the_next_answer_in_its_chat(
    fake: FakeBotApi, client: httpx.AsyncClient
) -> None:
    """Another process plays users and reads back when each update was handed out and answered."""
    root = fake.base_url.removesuffix("/bot")
    async with httpx.AsyncClient(base_url=root) as side:
        written = await side.post(
            "/_fake/messages",
            json=[{"chat_id": 7, "text": "/cases"}, {"chat_id": 7, "text": "/mysubs"}],
        )
        first, second = written.json()
        assert (await side.get("/_fake/timings")).json()[0]["handed_at"] is None
        updates = (await client.post("getUpdates")).json()["result"]
        assert [u["update_id"] for u in updates] == [first, second]
        await client.post("sendMessage", json={"chat_id": 8, "text": "another chat"})
        await client.post("sendMessage", json={"chat_id": 7, "text": "answer"})
        timings = {t["update_id"]: t for t in (await side.get("/_fake/timings")).json()}
    assert timings[first]["chat_id"] == 7
    assert timings[first]["handed_at"] <= timings[first]["answered_at"]
    assert timings[first]["status"] == 200
    assert timings[second]["handed_at"] is not None
    assert timings[second]["answered_at"] is None  # one answer, to the oldest update


def test_visible_text_unescapes() -> None:
    assert visible_text("<b>a &lt; b &amp; c</b>", "HTML") == "a < b & c"
    with pytest.raises(EntityError):
        visible_text("</i>", "HTML")


# --- webhook mode ---------------------------------------------------------------------------


@dataclass
class Receiver:
    """A bot's webhook endpoint: checks the secret, records bodies, answers as told."""

    secret: str | None = None
    answers: list[int] = field(default_factory=list)  # statuses to answer first, then 200
    received: list[tuple[Json, str | None]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        header = request.headers.get(SECRET_HEADER)
        if self.secret is not None and header != self.secret:
            return web.Response(status=403)
        self.received.append((await request.json(), header))
        return web.Response(status=self.answers.pop(0) if self.answers else 200)

    def texts(self) -> list[str]:
        return [body["message"]["text"] for body, _ in self.received if "message" in body]


async def _serve(receiver: Receiver, port: int = 0) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{bound}/hook"
    return runner


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hook = Receiver(secret="s3cret_Token-1")
    runner = await _serve(hook)
    yield hook
    await runner.cleanup()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_webhook_gets_updates_by_post_with_the_secret(
    fake: FakeBotApi, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    response = await client.post(
        "setWebhook", data={"url": receiver.url, "secret_token": "s3cret_Token-1"}
    )
    assert response.json() == {"ok": True, "result": True}
    user = UserRef(5)
    chat = fake.private_chat(user)

    fake.send_text(chat, user, "/start")
    fake.send_text(chat, user, "second")

    await fake.wait_for(lambda: len(receiver.received) == 2)
    assert receiver.texts() == ["/start", "second"]
    assert {secret for _, secret in receiver.received} == {"s3cret_Token-1"}
    body, _ = receiver.received[0]
    assert body["message"]["from"] == user.to_dict()
    assert [d.status for d in fake.webhook_deliveries] == [200, 200]
    info = (await client.post("getWebhookInfo")).json()["result"]
    assert info == {
        "url": receiver.url,
        "has_custom_certificate": False,
        "pending_update_count": 0,
        "max_connections": 40,
        "ip_address": "127.0.0.1",
    }


async def test_get_updates_conflicts_while_a_webhook_is_set(
    fake: FakeBotApi, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await client.post("setWebhook", data={"url": receiver.url})
    response = await client.post("getUpdates")
    assert response.status_code == 409
    assert response.json()["description"] == (
        "Conflict: can't use getUpdates method while webhook is active;"
        " use deleteWebhook to delete the webhook first"
    )


async def test_long_poll_ends_in_conflict_when_a_webhook_is_set(
    fake: FakeBotApi, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    fake.max_long_poll = 5
    poll = asyncio.ensure_future(client.post("getUpdates", data={"timeout": "5"}))
    await asyncio.sleep(0.1)
    await client.post("setWebhook", data={"url": receiver.url})
    assert (await poll).status_code == 409


async def test_delete_webhook_returns_to_polling(
    fake: FakeBotApi, client: httpx.AsyncClient
) -> None:
    down = Receiver(answers=[500] * 1000)  # refuses everything: updates stay pending
    runner = await _serve(down)
    try:
        await client.post("setWebhook", data={"url": down.url})
        user = UserRef(5)
        fake.send_text(fake.private_chat(user), user, "kept")
        await fake.wait_for(lambda: fake.webhook_deliveries)
        await client.post("deleteWebhook")
    finally:
        await runner.cleanup()

    info = (await client.post("getWebhookInfo")).json()["result"]
    assert info == {"url": "", "has_custom_certificate": False, "pending_update_count": 1}
    updates = (await client.post("getUpdates")).json()["result"]
    assert [u["message"]["text"] for u in updates] == ["kept"]


async def test_drop_pending_updates_forgets_them(
    fake: FakeBotApi, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    user = UserRef(5)
    fake.send_text(fake.private_chat(user), user, "old")
    await client.post("setWebhook", data={"url": receiver.url, "drop_pending_updates": "True"})
    await client.post("deleteWebhook", data={"drop_pending_updates": "true"})
    assert (await client.post("getUpdates")).json()["result"] == []
    assert receiver.received == []


async def test_refused_update_is_delivered_again_and_the_error_shown(
    fake: FakeBotApi, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.secret = None
    receiver.answers = [500, 502]
    await client.post("setWebhook", data={"url": receiver.url})
    user = UserRef(5)
    chat = fake.private_chat(user)
    fake.send_text(chat, user, "first")
    fake.send_text(chat, user, "second")

    await fake.wait_for(lambda: receiver.texts() == ["first", "first", "first", "second"])
    assert [d.status for d in fake.webhook_deliveries] == [500, 502, 200, 200]
    info = (await client.post("getWebhookInfo")).json()["result"]
    assert info["pending_update_count"] == 0
    assert info["last_error_message"] == "Wrong response from the webhook: 502 Bad Gateway"
    assert isinstance(info["last_error_date"], int)


async def test_unreachable_webhook_is_retried_until_it_listens(
    fake: FakeBotApi, client: httpx.AsyncClient
) -> None:
    port = _free_port()
    await client.post("setWebhook", data={"url": f"http://127.0.0.1:{port}/hook"})
    user = UserRef(5)
    fake.send_text(fake.private_chat(user), user, "hello")
    await fake.wait_for(lambda: fake.webhook_deliveries)
    info = (await client.post("getWebhookInfo")).json()["result"]
    assert info["last_error_message"] == "Connection refused"
    assert info["pending_update_count"] == 1

    late = Receiver()
    runner = await _serve(late, port)
    try:
        await fake.wait_for(lambda: late.texts() == ["hello"])
    finally:
        await runner.cleanup()
    assert fake.webhook_deliveries[0].status is None
    assert fake.webhook_deliveries[-1].ok


async def test_only_allowed_updates_are_delivered(
    fake: FakeBotApi, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.secret = None
    await client.post(
        "setWebhook", data={"url": receiver.url, "allowed_updates": '["callback_query"]'}
    )
    user = UserRef(5)
    chat = fake.private_chat(user)
    fake.send_text(chat, user, "not wanted")
    fake.press(chat, user, {"message_id": 1, "date": 0, "chat": chat.to_dict()}, "yes")
    await fake.wait_for(lambda: receiver.received)
    assert [list(body)[1] for body, _ in receiver.received] == ["callback_query"]
    info = (await client.post("getWebhookInfo")).json()["result"]
    assert info["allowed_updates"] == ["callback_query"]


@pytest.mark.parametrize(
    ("fields", "description"),
    [
        ({"url": "ftp://example.com/hook"}, "bad webhook: An HTTPS URL must be provided"),
        ({"url": "https:///hook"}, "bad webhook: Failed to resolve host"),
        ({"url": "https://example.com/", "secret_token": "a:b"}, "unallowed characters"),
        ({"url": "https://example.com/", "secret_token": "a" * 257}, "secret token is too long"),
    ],
)
async def test_bad_webhook_is_refused(
    fake: FakeBotApi, client: httpx.AsyncClient, fields: dict[str, str], description: str
) -> None:
    response = await client.post("setWebhook", data=fields)
    assert response.status_code == 400
    assert response.json()["description"].startswith("Bad Request: ")
    assert description in response.json()["description"]
    assert fake.webhook is None


async def test_a_raw_post_with_a_wrong_or_missing_secret(
    fake: FakeBotApi, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await client.post("setWebhook", data={"url": receiver.url, "secret_token": "s3cret_Token-1"})
    user = UserRef(5)
    update = fake.text_update(fake.private_chat(user), user, "/start")
    assert await fake.post_to_webhook(update, secret_token="wrong") == 403
    assert await fake.post_to_webhook(update, secret_token=None) == 403
    assert await fake.post_to_webhook(update, secret_token="s3cret_Token-1") == 200
    assert fake.webhook_deliveries == []  # raw posts are not deliveries


async def test_say_and_click_work_when_the_bot_takes_updates_by_webhook(fake: FakeBotApi) -> None:
    """How a webhook bot is fed: PTB without an Updater, the receiver filling its queue."""
    app = Application.builder().token(fake.token).base_url(fake.base_url).updater(None).build()

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]])
        await update.effective_message.reply_text(
            update.effective_message.text or "", reply_markup=keyboard
        )

    async def pressed(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("done")

    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.add_handler(CallbackQueryHandler(pressed))

    async def feed(request: web.Request) -> web.Response:
        if request.headers.get(SECRET_HEADER) != "s3cret":
            return web.Response(status=403)
        await app.update_queue.put(Update.de_json(await request.json(), app.bot))
        return web.Response()

    web_app = web.Application()
    web_app.router.add_post("/hook", feed)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    user = UserRef(5)
    chat = fake.private_chat(user)
    try:
        async with app:
            await app.start()
            await app.bot.set_webhook(url, secret_token="s3cret")
            reply = await fake.say(chat, user, "hello")
            assert reply["text"] == "hello"
            answer = await fake.click(chat, user, reply, "ok")
            assert answer["text"] == "done"
            await app.stop()
    finally:
        await runner.cleanup()
    assert all(d.ok for d in fake.webhook_deliveries)


async def test_a_deleted_or_closed_topic_refuses_messages_as_telegram_does(
    fake: FakeBotApi, client: httpx.AsyncClient
) -> None:
    forum = fake.forum(-100_77)
    courts, news = fake.open_topic(forum, "Courts"), fake.open_topic(forum, "News")
    sent = await client.post(
        "sendMessage", json={"chat_id": forum.id, "text": "hi", "message_thread_id": courts}
    )
    assert sent.json()["result"]["message_thread_id"] == courts
    assert sent.json()["result"]["is_topic_message"] is True
    fake.delete_topic(forum, courts)
    fake.close_topic(forum, news)
    for thread, description in ((courts, "message thread not found"), (news, "TOPIC_CLOSED")):
        refused = await client.post(
            "sendMessage", json={"chat_id": forum.id, "text": "hi", "message_thread_id": thread}
        )
        assert refused.json() == {
            "ok": False,
            "error_code": 400,
            "description": f"Bad Request: {description}",
        }
    general = await client.post("sendMessage", json={"chat_id": forum.id, "text": "hi"})
    assert "message_thread_id" not in general.json()["result"]


async def test_delete_message_needs_the_rights_telegram_asks_for(
    fake: FakeBotApi, client: httpx.AsyncClient
) -> None:
    channel = fake.channel(-100_88)
    fake.set_bot_member(channel, "administrator", can_delete_messages=False)
    post = fake.post(channel, "/subscribe tabarak")
    own = (await client.post("sendMessage", json={"chat_id": channel.id, "text": "ok"})).json()
    refused = await client.post(
        "deleteMessage", json={"chat_id": channel.id, "message_id": post["message_id"]}
    )
    assert refused.json()["description"] == "Bad Request: message can't be deleted"
    deleted = await client.post(
        "deleteMessage", json={"chat_id": channel.id, "message_id": own["result"]["message_id"]}
    )
    assert deleted.json() == {"ok": True, "result": True}
    again = await client.post(
        "deleteMessage", json={"chat_id": channel.id, "message_id": own["result"]["message_id"]}
    )
    assert again.json()["description"] == "Bad Request: message to delete not found"
    assert fake.deleted == [(channel.id, own["result"]["message_id"])]


async def test_get_updates_leaves_out_kinds_not_allowed(
    fake: FakeBotApi, client: httpx.AsyncClient
) -> None:
    channel = fake.channel(-100_99)
    fake.post(channel, "/subscribe tabarak")
    fake.bot_status(channel, "left")
    only_messages = {"allowed_updates": '["message", "callback_query"]'}
    assert (await client.post("getUpdates", data=only_messages)).json()["result"] == []
    fake.post(channel, "/subscribe tabarak")
    fake.bot_status(channel, "administrator")
    wanted = {"allowed_updates": '["channel_post", "my_chat_member"]'}
    kinds = [
        next(k for k in update if k != "update_id")
        for update in (await client.post("getUpdates", data=wanted)).json()["result"]
    ]
    assert kinds == ["channel_post", "my_chat_member"]


async def test_a_reply_keyboard_is_the_recipients_not_part_of_the_message(
    fake: FakeBotApi, client: httpx.AsyncClient
) -> None:
    chat = fake.private_chat(UserRef(5))
    keyboard = {"keyboard": [[{"text": "Not now"}]], "one_time_keyboard": True}
    sent = await client.post(
        "sendMessage", json={"chat_id": chat.id, "text": "Pick", "reply_markup": keyboard}
    )
    assert "reply_markup" not in sent.json()["result"]
    assert fake.sent_to(chat.id)[0]["reply_markup"] == keyboard  # what the user sees


async def test_the_bots_membership_and_the_picker_parse_as_python_telegram_bot_reads_them(
    fake: FakeBotApi, client: httpx.AsyncClient
) -> None:
    channel = fake.channel(-100_111, title="Defenders")
    fake.bot_status(channel, "administrator", can_post_messages=False)
    private = fake.private_chat(UserRef(5))
    fake.share_chat(private, UserRef(5), 42, channel)
    updates = (await client.post("getUpdates")).json()["result"]
    changed, shared = (Update.de_json(update, None) for update in updates)
    assert changed is not None
    assert changed.my_chat_member is not None
    assert changed.my_chat_member.new_chat_member.can_post_messages is False  # type: ignore[union-attr]
    assert shared is not None
    assert shared.message is not None
    assert shared.message.chat_shared is not None
    assert (shared.message.chat_shared.request_id, shared.message.chat_shared.chat_id) == (
        42,
        channel.id,
    )
    member = (
        await client.post("getChatMember", json={"chat_id": channel.id, "user_id": fake.bot_id})
    ).json()["result"]
    assert member["status"] == "administrator"
    assert member["can_post_messages"] is False
    chat = (await client.post("getChat", json={"chat_id": channel.id})).json()["result"]
    assert chat["title"] == "Defenders"
