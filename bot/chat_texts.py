"""What the bot says about channels, groups and forum topics: the chat picker of a private chat,
the answers about a chat someone manages, and the notice of a topic that is gone. Everything
dynamic is escaped for Telegram's HTML parse mode."""

from __future__ import annotations

from bot.i18n import LANGUAGES, N_, NAMES, Translator, translator
from bot.texts import ONLY_GROUP_ADMINS, escape
from storage.models import ChatType
from storage.topics import TopicNotice

# The inline button, in a private chat, that leads to Telegram's chat picker.
MANAGE_BUTTON = N_("📢 A channel or group I manage")
# The reply keyboard's buttons: each opens Telegram's chat picker (or takes the keyboard away).
PICK_CHANNEL = N_("📢 A channel I manage")
PICK_GROUP = N_("👥 A group I manage")
PICK_NOT_NOW = N_("Not now")
PICK_SUBSCRIBE = N_(
    "Which channel or group should follow <b>{title}</b>? Choose it with a button below. You"
    " must be one of its administrators, and the bot must be able to post there (in a"
    " channel, as an administrator who may post messages)."
)
PICK_UNSUBSCRIBE = N_(
    "Which channel or group should stop following <code>{case_id}</code>? Choose it with a"
    " button below."
)
PICK_UNSUBSCRIBE_ALL = N_(
    "Which channel or group should stop following every case? Choose it with a button below."
)
PICK_REMINDERS_FIRST = N_(
    "Which reminders should the channel or group get before each hearing? Choose them here,"
    " then the chat."
)
PICK_REMINDERS = N_(
    "Which channel or group should get these reminders? Choose it with a button below."
)
PICK_LANGUAGE_FIRST = N_(
    "Which language should I write to the channel or group in? Choose it here, then the chat."
)
PICK_LANGUAGE = N_(
    "Which channel or group should I write to in {language}? Choose it with a button below."
)
PICK_CANCELLED = N_("Nothing was changed.")
PICK_OUT_OF_DATE = N_(
    "That choice is out of date; nothing was changed. Start again with /subscribe,"
    " /unsubscribe, /remind or /language."
)
PICK_ONLY_PRIVATE = N_("Choose a channel or group in your private chat with the bot.")
UNNAMED_CHAT = N_("the chosen chat")

SHARED_SUBSCRIBED = N_(
    "<b>{chat}</b> now follows <b>{title}</b>: the reminders before each hearing and the news"
    " after it will be posted there."
)
SHARED_ALREADY = N_("<b>{chat}</b> already follows <b>{title}</b>.")
SHARED_CLOSED = N_("<b>{title}</b> is closed: the bot no longer follows it.")
SHARED_UNSUBSCRIBED = N_("<b>{chat}</b> no longer follows <code>{case_id}</code>.")
SHARED_NOT_SUBSCRIBED = N_("<b>{chat}</b> was not following <code>{case_id}</code>.")
SHARED_UNSUBSCRIBED_ALL = N_("<b>{chat}</b> no longer follows any case (it followed {ids}).")
SHARED_FOLLOWED_NOTHING = N_("<b>{chat}</b> was not following any case.")
SHARED_REMINDERS = N_("Saved: <b>{chat}</b> gets reminders {times} each hearing.")
SHARED_NO_REMINDERS = N_("Saved: <b>{chat}</b> gets no reminders.")
SHARED_LANGUAGE = N_("Saved: I write to <b>{chat}</b> in {language}.")
NOT_AN_ADMIN_OF_CHANNEL = N_(
    "Only an administrator of <b>{chat}</b> who may post in it can change what it follows,"
    " and Telegram says you are not one. Nothing was changed."
)
NOT_AN_ADMIN_OF_GROUP = N_(
    "Only an administrator of <b>{chat}</b> can change what it follows, and Telegram says you"
    " are not one. Nothing was changed."
)
CANNOT_POST_IN_CHANNEL = N_(
    "I cannot post in <b>{chat}</b>. Add me to the channel as an administrator who may post"
    " messages, then choose it again."
)
CANNOT_POST_IN_GROUP = N_(
    "I cannot write in <b>{chat}</b>. Add me to the group and let me send messages, then"
    " choose it again."
)
ONLY_CHANNEL_ADMINS = N_(
    "Only this channel's administrators who may post in it can change what it follows."
)
MANAGED_BUTTON = N_("📢 Channels and groups I manage")
MANAGED_HEADING = N_("Channels and groups you manage")
MANAGED_NONE = N_(
    "You manage none of the channels and groups that follow cases here (or I am no longer in them)."
)
MANAGED_PAUSED = N_("paused: I cannot post there")
SUBSCRIBED_HERE_NOW = N_(
    "<b>{title}</b> was followed in another topic of this group; from now on its reminders and"
    " news come to this one."
)
TOPIC_GONE = N_(
    "A topic in which this group followed cases was closed or deleted, so from now on their"
    " reminders and news come here, to General. To have a case in a topic again, send"
    " /subscribe with its id in that topic."
)


def chat_name(t: Translator, title: str | None) -> str:
    """A chat's title as the person who chose it sees it (escaped), or a stand-in."""
    return escape(title) if title else t(UNNAMED_CHAT)


def not_an_admin(t: Translator, chat: str, *, channel: bool) -> str:
    """The person who chose the chat does not manage it."""
    return t(NOT_AN_ADMIN_OF_CHANNEL if channel else NOT_AN_ADMIN_OF_GROUP, chat=chat)


def cannot_post(t: Translator, chat: str, *, channel: bool) -> str:
    """The bot is not in the chat, or may not post there."""
    return t(CANNOT_POST_IN_CHANNEL if channel else CANNOT_POST_IN_GROUP, chat=chat)


def only_admins(t: Translator, chat_type: str) -> str:
    """Someone who may not change a group's or channel's subscriptions tried."""
    return t(ONLY_CHANNEL_ADMINS if chat_type == ChatType.CHANNEL else ONLY_GROUP_ADMINS)


def language_name(code: str) -> str:
    """A language as it calls itself ("Қазақша", "Русский", "English")."""
    return NAMES.get(code, code)


def case_ids(ids: list[str]) -> str:
    return ", ".join(f"<code>{case_id}</code>" for case_id in ids)


def managed_line(
    t: Translator, title: str | None, chat_type: ChatType, followed: list[str], *, paused: bool
) -> str:
    """One channel or group in /mysubs: its name and what it follows."""
    mark = "📢" if chat_type == ChatType.CHANNEL else "👥"
    line = f"{mark} <b>{chat_name(t, title)}</b>: {case_ids(followed)}"
    if paused:
        line += f" <i>({t(MANAGED_PAUSED)})</i>"
    return line


def topic_gone_notice(default_language: str) -> TopicNotice:
    """What a forum is told when a topic it followed cases in is gone, in every language."""
    return TopicNotice(
        text=translator(default_language)(TOPIC_GONE),
        texts={language: translator(language)(TOPIC_GONE) for language in LANGUAGES},
    )
