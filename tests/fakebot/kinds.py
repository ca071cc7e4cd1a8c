"""The fake Bot API's other kinds of chat: channels and their posts, forum supergroups and their
topics, the bot's own membership (``my_chat_member``) and rights, Telegram's chat picker
(``chat_shared``), ``deleteMessage`` and ``getChat``. Mixed into ``FakeBotApi``.

    channel = fake.channel(-100_500, title="NGO")          # the bot: an administrator who posts
    fake.post(channel, "/subscribe tabarak")               # a channel_post, no author
    forum = fake.forum(-100_600)
    topic = fake.open_topic(forum, "Courts")               # a message_thread_id
    fake.send_text(forum, alice, "/subscribe tabarak", thread=topic)
    fake.delete_topic(forum, topic)                        # sends there: "message thread not found"
    fake.bot_status(channel, "administrator", can_post_messages=False)   # my_chat_member
    fake.share_chat(private, alice, request_id, channel)   # the picker's answer
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakebot.server import ChatRef, Handler, Json, Params, UserRef

# Every right an administrator may hold, with the defaults the fake gives one.
ADMIN_RIGHTS: dict[str, bool] = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
}
CHANNEL_ADMIN_RIGHTS = {"can_post_messages": True, "can_edit_messages": True}
RESTRICTED_RIGHTS: dict[str, Any] = {
    "is_member": True, "can_send_messages": True, "can_send_audios": True,
    "can_send_documents": True, "can_send_photos": True, "can_send_videos": True,
    "can_send_video_notes": True, "can_send_voice_notes": True, "can_send_polls": True,
    "can_send_other_messages": True, "can_add_web_page_previews": True,
    "can_change_info": False, "can_invite_users": False, "can_pin_messages": False,
    "can_manage_topics": False, "until_date": 0,
}  # fmt: skip
OPEN, CLOSED, DELETED = "open", "closed", "deleted"


class ChatKinds:
    """Channels, forums and the bot's membership, for ``FakeBotApi``."""

    # Provided by FakeBotApi.
    bot_id: int
    chats: dict[int, ChatRef]
    members: dict[tuple[int, int], str]
    messages: dict[tuple[int, int], Json]
    _message_ids: itertools.count[int]

    def _init_chat_kinds(self) -> None:
        # Rights beyond the status, per (chat, user); the bot's own under its id.
        self.rights: dict[tuple[int, int], dict[str, Any]] = {}
        # Forum topics: (chat, message_thread_id) -> open, closed or deleted.
        self.topics: dict[tuple[int, int], str] = {}
        # What others posted, by (chat, message id), as deleteMessage may remove it.
        self.posts: dict[tuple[int, int], Json] = {}
        # Every message deleted, in order, and the bot's own as they were.
        self.deleted: list[tuple[int, int]] = []
        self.deleted_messages: dict[tuple[int, int], Json] = {}

    def _chat_kind_methods(self) -> dict[str, Handler]:
        return {"deleteMessage": self._delete_message, "getChat": self._get_chat}

    # --- the users' side -----------------------------------------------------------------

    def channel(self, chat_id: int, *, title: str = "Defenders") -> ChatRef:
        """A channel the bot was added to as an administrator who may post and delete."""
        from tests.fakebot.server import ChatRef

        chat = ChatRef(chat_id, "channel", title)
        self.chats[chat.id] = chat
        self.set_bot_member(chat, "administrator", **CHANNEL_ADMIN_RIGHTS)
        return chat

    def forum(self, chat_id: int, *, title: str = "Supporters") -> ChatRef:
        """A supergroup with topics; General is the chat itself (no message_thread_id)."""
        from tests.fakebot.server import ChatRef

        chat = ChatRef(chat_id, "supergroup", title, is_forum=True)
        self.chats[chat.id] = chat
        return chat

    def open_topic(self, forum: ChatRef, name: str = "Courts") -> int:
        """A new topic in ``forum``: its message_thread_id (the id of its first message)."""
        thread_id = next(self._message_ids)
        self.topics[(forum.id, thread_id)] = OPEN
        return thread_id

    def close_topic(self, forum: ChatRef, thread_id: int) -> None:
        self.topics[(forum.id, thread_id)] = CLOSED

    def delete_topic(self, forum: ChatRef, thread_id: int) -> None:
        self.topics[(forum.id, thread_id)] = DELETED

    def set_bot_member(self, chat: ChatRef, status: str, **rights: Any) -> None:
        """The bot's status in a chat, with rights beyond the defaults, told to nobody."""
        self.members[(chat.id, self.bot_id)] = status
        self.rights[(chat.id, self.bot_id)] = rights

    def set_rights(self, chat: ChatRef, user: UserRef, **rights: Any) -> None:
        """A member's rights beyond the defaults of their status (``can_post_messages=False``)."""
        self.rights[(chat.id, user.id)] = rights

    def bot_status(
        self, chat: ChatRef, status: str, *, by: UserRef | None = None, **rights: Any
    ) -> int:
        """Someone changes the bot's place in a chat (adds, removes, promotes or restricts it):
        Telegram tells the bot with a ``my_chat_member`` update. Its update id."""
        from tests.fakebot.server import UserRef

        old = self._member_json(chat, self.bot_id)
        self.set_bot_member(chat, status, **rights)
        changed: Json = {
            "chat": chat.to_dict(),
            "from": (by or UserRef(1)).to_dict(),
            "date": int(time.time()),
            "old_chat_member": old,
            "new_chat_member": self._member_json(chat, self.bot_id),
        }
        return self._push("my_chat_member", changed)  # type: ignore[attr-defined,no-any-return]

    def post(self, channel: ChatRef, text: str, *, signature: str | None = None) -> Json:
        """An administrator posts in a channel: a ``channel_post`` with no author."""
        post: Json = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": channel.to_dict(),
            "sender_chat": channel.to_dict(),
            "text": text,
        }
        if signature:
            post["author_signature"] = signature
        if text.startswith("/"):
            length = len(text.split(maxsplit=1)[0])
            post["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        self.posts[(channel.id, post["message_id"])] = post
        self._push("channel_post", post)  # type: ignore[attr-defined]
        return post

    def share_chat(
        self, chat: ChatRef, user: UserRef, request_id: int, shared: ChatRef, *, title: bool = True
    ) -> Json:
        """``user`` picks ``shared`` in Telegram's chat picker opened by a button with
        ``request_id``: the answer is a message with ``chat_shared`` in the private chat."""
        answer: Json = {"request_id": request_id, "chat_id": shared.id}
        if title and shared.title:
            answer["title"] = shared.title
        message: Json = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat.to_dict(),
            "from": user.to_dict(),
            "chat_shared": answer,
        }
        self._push("message", message)  # type: ignore[attr-defined]
        return message

    def ever_sent_to(self, chat_id: int) -> list[Json]:
        """The bot's messages in a chat, oldest first, those since deleted included."""
        every = {**self.messages, **self.deleted_messages}
        return [m for (cid, _), m in sorted(every.items()) if cid == chat_id]

    async def _presses(self, request: web.Request) -> web.Response:
        """For a client in another process: people press a button ``[{chat_id, data}, ...]``
        under the bot's latest message in their chat that has it; the callback query ids. Not
        timed: a press is answered with answerCallbackQuery (see ``/_fake/callback_answers``)."""
        from tests.fakebot.server import UserRef

        pressed = []
        for item in await request.json():
            chat = self.chats[int(item["chat_id"])]
            under = next(
                message
                for message in reversed(self.sent_to(chat.id))  # type: ignore[attr-defined]
                if any(
                    button.get("callback_data") == item["data"]
                    for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
                    for button in row
                )
            )
            before = set(self.timings)  # type: ignore[attr-defined]
            pressed.append(self.press(chat, UserRef(chat.id), under, item["data"]))  # type: ignore[attr-defined]
            for update_id in set(self.timings) - before:  # type: ignore[attr-defined]
                del self.timings[update_id]  # type: ignore[attr-defined]
        return web.json_response(pressed)

    async def _callback_answers(self, _request: web.Request) -> web.Response:
        """For a client in another process: the callback query ids the bot answered."""
        answers = self.callback_answers  # type: ignore[attr-defined]
        return web.json_response([answer.get("callback_query_id") for answer in answers])

    # --- methods ---------------------------------------------------------------------------

    @staticmethod
    def _as_returned(message: Json) -> Json:
        """A sent message as Telegram returns it: a reply keyboard (or its removal) is the
        recipient's, not part of the message; an inline keyboard is."""
        returned = {k: v for k, v in message.items() if k != "html"}
        if "inline_keyboard" not in returned.get("reply_markup", {"inline_keyboard": 0}):
            del returned["reply_markup"]
        return returned

    def _thread_for(self, chat: ChatRef, params: Params) -> int | None:
        """The forum topic a message is sent to; Telegram's 400 for one deleted or closed."""
        from tests.fakebot.server import bad_request

        thread_id = params.optional_int("message_thread_id")
        if thread_id is None or not chat.is_forum:
            return thread_id
        state = self.topics.get((chat.id, thread_id))
        if state in (None, DELETED):
            raise bad_request("message thread not found")
        if state == CLOSED:
            raise bad_request("TOPIC_CLOSED")
        return thread_id

    def _member_json(self, chat: ChatRef, user_id: int) -> Json:
        """A ChatMember as Telegram shapes it: the status's fields, and the rights set."""
        from tests.fakebot.server import UserRef

        default = "administrator" if chat.type == "channel" and user_id == self.bot_id else "member"
        status = self.members.get((chat.id, user_id), default)
        user = self._bot_user() if user_id == self.bot_id else UserRef(user_id).to_dict()  # type: ignore[attr-defined]
        member: Json = {"status": status, "user": user}
        extra = self.rights.get((chat.id, user_id), {})
        if status == "administrator":
            member.update(ADMIN_RIGHTS)
            if chat.type == "channel":
                member.update(CHANNEL_ADMIN_RIGHTS)
            member.update(extra)
        elif status == "creator":
            member["is_anonymous"] = False
        elif status == "restricted":
            member.update(RESTRICTED_RIGHTS)
            member.update(extra)
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _require_bot_in(self, chat: ChatRef) -> None:
        """Telegram tells a bot about a group or channel's members only while it is in it."""
        from tests.fakebot.server import ApiError

        if chat.type != "private" and self.members.get((chat.id, self.bot_id)) in (
            "left",
            "kicked",
        ):
            kind = "channel" if chat.type == "channel" else chat.type
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")

    def _may(self, chat: ChatRef, right: str) -> bool:
        member = self._member_json(chat, self.bot_id)
        return member["status"] == "creator" or bool(
            member["status"] == "administrator" and member.get(right)
        )

    async def _delete_message(self, params: Params) -> bool:
        """The bot's own messages: in a group always, in a channel with the right to post;
        anyone else's only with the right to delete."""
        from tests.fakebot.server import bad_request

        chat = self._chat(params)  # type: ignore[attr-defined]
        key = (chat.id, params.int("message_id"))
        if key in self.messages:
            allowed = chat.type != "channel" or self._may(chat, "can_post_messages")
            allowed = allowed or self._may(chat, "can_delete_messages")
            store = self.messages
        elif key in self.posts:
            allowed = self._may(chat, "can_delete_messages")
            store = self.posts
        else:
            raise bad_request("message to delete not found")
        if not allowed:
            raise bad_request("message can't be deleted")
        gone = store.pop(key)
        if store is self.messages:
            self.deleted_messages[key] = gone
        self.deleted.append(key)
        return True

    async def _get_chat(self, params: Params) -> Json:
        chat = self._chat(params)  # type: ignore[attr-defined]
        full: Json = chat.to_dict() | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
                "premium_subscription": False, "gifts_from_channels": False,
            },
        }  # fmt: skip
        return full
