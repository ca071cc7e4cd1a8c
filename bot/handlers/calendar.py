"""/calendar: a case's hearings as a file for the phone's calendar, and the feed to subscribe to.

The calendar itself is made in ``storage.calendar``; this only asks for it and sends it.
"""

from __future__ import annotations

from telegram import InputFile, Update
from telegram.ext import CommandHandler, filters

from bot import texts
from bot.context import Context, HearingWatchApp
from bot.i18n import N_
from bot.texts import escape, title_of
from storage import calendar, schedule

# Only new messages: an edited "/calendar x" need not send the file again.
NEW_MESSAGES = filters.UpdateType.MESSAGE

USAGE = N_("Which case? Send /calendar followed by its id, for example: /calendar tabarak")
CAPTION = N_(
    "The hearings of <b>{title}</b> still ahead. Open the file to add them to your calendar;"
    " after a postponement, open a new one and the event moves."
)
NOTHING_AHEAD = N_("No hearing of <b>{title}</b> is ahead at the moment.")
SUBSCRIBE = N_("Or subscribe in your calendar app, which then follows postponements itself: {url}")


async def cmd_calendar(update: Update, context: Context) -> None:
    """Send a case's upcoming hearings as an .ics file."""
    message = update.effective_message
    if message is None:
        return
    t = context.t
    if not context.args:
        await message.reply_text(t(USAGE))
        return
    case_id = schedule.normalise_case_id(context.args[0])
    data = context.bot_data
    config = data.config
    async with data.database.reading() as session:
        case = await schedule.get_case(session, case_id)
        feed = await calendar.case_calendar(
            session,
            case_id,
            now=data.clock(),
            domain=config.calendar_domain,
            language=t.language,
        )
        suggestions = [] if case else await schedule.closest_case_ids(session, case_id)
    if case is None or feed is None:
        await message.reply_text(texts.unknown_case(t, case_id, suggestions))
        return
    url = config.calendar_url(case.id)
    link = "\n\n" + t(SUBSCRIBE, url=escape(url)) if url else ""
    if b"BEGIN:VEVENT" not in feed:
        await message.reply_text(t(NOTHING_AHEAD, title=title_of(t, case)) + link)
        return
    await message.reply_document(
        InputFile(feed, filename=f"{case.id}.ics"),
        caption=t(CAPTION, title=title_of(t, case)) + link,
    )


def register(app: HearingWatchApp) -> None:
    """Add /calendar."""
    app.add_handler(CommandHandler("calendar", cmd_calendar, filters=NEW_MESSAGES))
