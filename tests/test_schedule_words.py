"""The schedule's own words in the reader's language: a case's title and description and a
hearing's court, city and address, given per language (kk:/ru:/en: blocks, the schedule file's
tables) and read back by each chat in its language, else as first given."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.context import HearingWatchApp
from bot.i18n import translator
from bot.parsing import UsageError, parse_addcase, parse_addhearing, parse_edithearing
from storage import editing, schedule
from storage.database import Database
from storage.models import Case, Hearing
from storage.schedule_file import (
    SEED_FILE,
    ScheduleFileError,
    apply_schedule,
    export_schedule,
    read_schedule_file,
)
from storage.wording import pick, split, versions
from tests.conftest import ADMIN_ID, Clock, instance_of
from tests.fakebot import FakeBotApi, UserRef
from tests.snapshot import snapshot
from tests.staffing import buttons

ADMIN = UserRef(ADMIN_ID)
KK, RU, EN = translator("kk"), translator("ru"), translator("en")
COURTS = (
    "kk: Жаркент аудандық соты; Жаркент; Абай к-сі, 12\n"
    "ru: Жаркентский районный суд; Жаркент; ул. Абая, 12\n"
    "en: Zharkent district court; Zharkent; 12 Abay St"
)


def visible(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


# --- without Telegram --------------------------------------------------------------------------


def test_a_reader_gets_their_version_else_the_first_given() -> None:
    plain, given = split("ru: Жаркентский районный суд\nkk: Жаркент аудандық соты")
    assert plain == "Жаркентский районный суд"  # the plain column: the first version given
    assert pick(plain, given, "kk") == "Жаркент аудандық соты"
    assert pick(plain, given, "en") == "Жаркентский районный суд"
    assert split("Zharkent court") == ("Zharkent court", {})
    assert versions("Zharkent court") == {}


def test_the_one_line_commands_take_blocks_per_language() -> None:
    request = parse_addhearing("tabarak 2026-12-16 10:00 tz=Asia/Almaty\n" + COURTS)
    assert versions(request.court) == {
        "kk": "Жаркент аудандық соты",
        "ru": "Жаркентский районный суд",
        "en": "Zharkent district court",
    }
    assert versions(request.address or "")["ru"] == "ул. Абая, 12"
    assert request.zone == "Asia/Almaty"
    case = parse_addcase(
        "free-ali\nen: Ali Free\nHe is on trial.\nru: Али Фри\nЕго судят.\nkk: Али Фри"
    )
    assert versions(case.title) == {"en": "Ali Free", "ru": "Али Фри", "kk": "Али Фри"}
    assert versions(case.description) == {"en": "He is on trial.", "ru": "Его судят."}
    edit = parse_edithearing("#3 court\nkk: Панфилов аудандық соты\nru: Панфиловский суд")
    assert versions(edit.value or "")["kk"] == "Панфилов аудандық соты"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("#3 court\nkk: Панфилов\u0007 соты\nru: Суд", "control character (U+0007)"),
        ("#3 court\nkk: Соты\nkk: Суд", "The kk version is given twice."),
        ("#3 court\nkk:\nru: Суд", "The kk version is empty."),
        ("#3 city\nkk: Жаркент\nЖаркент ауданы", "must be one line"),
    ],
)
def test_each_version_is_checked_as_one_text_is(line: str, problem: str) -> None:
    with pytest.raises(UsageError) as refused:
        parse_edithearing(line)
    assert problem in str(refused.value)


async def test_storage_keeps_the_first_version_plain_and_every_version_beside_it(
    database: Database,
) -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    async with database.writing() as session:
        case = await editing.add_case(
            session,
            actor=ADMIN_ID,
            case_id="free-ali",
            title="en: Ali Free\nru: Али Фри",
            description="",
        )
        hearing = await editing.add_hearing(
            session,
            actor=ADMIN_ID,
            case_id="free-ali",
            day=date(2026, 12, 16),
            at=None,
            court="ru: Жаркентский районный суд\nkk: Жаркент аудандық соты",
            city="Zharkent",
            address=None,
            zone="Asia/Almaty",
            now=now,
        )
    assert case.title == "Ali Free"
    assert hearing.court == "Жаркентский районный суд"
    assert hearing.worded("court", "kk") == "Жаркент аудандық соты"
    assert hearing.worded("city", "kk") == "Zharkent"  # one text for everyone
    async with database.writing() as session:
        assert hearing.id is not None
        edited = await editing.edit_hearing(
            session, actor=ADMIN_ID, hearing_id=hearing.id, field="court", value="Zharkent court"
        )
    assert edited.worded("court", "kk") == "Zharkent court"  # one text replaces the versions
    async with database.reading() as session:
        stored = await schedule.get_case(session, "free-ali")
    assert stored is not None
    assert stored.worded("title", "ru") == "Али Фри"


async def test_the_schedule_file_round_trips_versions_per_language(
    database: Database, tmp_path: Path
) -> None:
    async with database.writing() as session:
        await apply_schedule(session, read_schedule_file(SEED_FILE), default_zone="Asia/Almaty")
    async with database.reading() as session:
        exported = await export_schedule(session)
        case = await session.get(Case, "tabarak")
    assert 'court = { en = "Zharkent court", kk = "Жаркент аудандық соты", ru = ' in exported
    assert case is not None
    assert case.worded("title", "kk") == "Тілек Табарақ"
    path = tmp_path / "schedule.toml"
    path.write_text(exported, encoding="utf-8")
    before = await snapshot(database)
    async with database.writing() as session:
        report = await apply_schedule(session, read_schedule_file(path), default_zone="Asia/Almaty")
    assert not report.changed  # its own export imports back as it was
    assert await snapshot(database) == before
    # A version edited in the file reaches the database; the others stay.
    path.write_text(
        exported.replace("Жаркентский районный суд", "Жаркентский районный суд № 2"),
        encoding="utf-8",
    )
    async with database.writing() as session:
        report = await apply_schedule(session, read_schedule_file(path), default_zone="Asia/Almaty")
    assert report.hearings_updated == 2
    async with database.reading() as session:
        hearings = await schedule.hearings_of(session, "tabarak")
    assert {h.worded("court", "ru") for h in hearings} == {"Жаркентский районный суд № 2"}
    assert {h.court for h in hearings} == {"Zharkent court"}


def test_a_schedule_file_version_is_checked_like_any_text(tmp_path: Path) -> None:
    path = tmp_path / "schedule.toml"
    path.write_text(
        '[[cases]]\nid = "x"\ntitle = { en = "X", de = "Y" }\n'
        'description = { ru = "ok", kk = "" }\n'
        "  [[cases.hearings]]\n  date = 2026-01-01\n"
        '  court = { kk = "Сот\\u0007" }\n  city = "Z"\n',
        encoding="utf-8",
    )
    with pytest.raises(ScheduleFileError) as refused:
        read_schedule_file(path)
    joined = "\n".join(refused.value.problems)
    assert "'de' is not a language" in joined
    assert "the kk version: is empty" in joined
    assert "the kk version: contains a control character (U+0007)" in joined


# --- through the fake Bot API ----------------------------------------------------------------


async def test_a_russian_chat_reads_the_case_in_russian(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    user = UserRef(7101, language_code="ru")
    chat = fake.private_chat(user)
    case = await fake.say(chat, user, "/case tabarak")
    assert "<b>Тилек Табарак</b>" in case["text"] or "Тилек Табарак · tabarak" in case["text"]
    assert "Тилек Табарак — этнический казах, бежавший из Синьцзяна." in case["text"]
    assert "Жаркентский районный суд, Жаркент" in case["text"]
    assert "Zharkent" not in case["text"]
    assert "Xinjiang" not in case["text"]
    cases = await fake.say(chat, user, "/cases")
    assert visible(RU("Previous hearing: {when}", when="")) in cases["text"]
    assert "Предыдущее заседание:" in cases["text"]  # not «Последнее»: the trial goes on
    english = UserRef(7102, language_code="en")
    case = await fake.say(fake.private_chat(english), english, "/case tabarak")
    assert "Zharkent court, Zharkent" in case["text"]
    kazakh = UserRef(7103, language_code="kk")
    cases = await fake.say(fake.private_chat(kazakh), kazakh, "/cases")
    assert "Соңғы өткен сот отырысы:" in cases["text"]  # not «Алдыңғы», a letter from «Алдағы»
    assert "Жаркент аудандық соты, Жаркент" in cases["text"]


async def test_a_kazakh_reminder_names_the_zone_and_the_court_in_kazakh(
    bot: HearingWatchApp, fake: FakeBotApi, clock: Clock
) -> None:
    kazakh, russian = UserRef(7201, language_code="kk"), UserRef(7202, language_code="ru")
    for user in (kazakh, russian):
        await fake.say(fake.private_chat(user), user, "/subscribe tabarak")
    admin = fake.private_chat(ADMIN)
    added = await fake.say(admin, ADMIN, "/addhearing tabarak 2026-12-16 10:00\n" + COURTS)
    assert "Added hearing #5" in added["text"], added["text"]
    assert "Zharkent district court, Zharkent, 12 Abay St" in added["text"]  # the admin's
    clock.now = datetime(2026, 12, 16, 4, 0, tzinfo=UTC)  # 09:00 in Almaty: the 2h one is due
    await instance_of(bot).parts.reminders.reconcile()
    await fake.wait_for(lambda: all(len(fake.sent_to(u.id)) >= 2 for u in (kazakh, russian)))
    kk_text = fake.sent_to(kazakh.id)[-1]["text"]
    ru_text = fake.sent_to(russian.id)[-1]["text"]
    assert kk_text.startswith(
        "⏰ " + visible(KK("<b>Reminder</b>: {title}", title="Тілек Табарақ"))
    )
    assert "2026\u202fж. 16 желтоқсан, 10:00 (Алматы уақытымен, UTC+5)" in kk_text
    assert "Жаркент аудандық соты, Жаркент, Абай к-сі, 12" in kk_text
    assert "Asia/Almaty" not in kk_text
    assert "16 декабря 2026\u202fг., 10:00 (по времени Алматы, UTC+5)" in ru_text
    assert "Жаркентский районный суд, Жаркент, ул. Абая, 12" in ru_text


async def test_a_guided_answer_may_carry_a_version_per_language(
    bot: HearingWatchApp, fake: FakeBotApi
) -> None:
    admin = fake.private_chat(ADMIN)
    question = await fake.say(admin, ADMIN, "/addhearing tabarak 2026-12-16 10:00")
    assert question["text"].startswith("Which court?")
    # The court this case used is offered in the admin's language, keeping every version.
    assert "Zharkent court" in buttons(question)
    city = await fake.say(
        admin, ADMIN, "kk: Жаркент аудандық соты\nru: Жаркентский районный суд\nen: Zharkent"
    )
    assert city["text"].startswith("In which city?")
    assert "Zharkent" in buttons(city)
    wrong = await fake.say(admin, ADMIN, "kk: Жаркент\nkk: Жаркент")
    assert wrong["text"].startswith("⚠️ The kk version is given twice.")
    address = await fake.say(admin, ADMIN, "kk: Жаркент\nru: Жаркент\nen: Zharkent")
    assert "Skip" in buttons(address)
    before = len(fake.sent_to(admin.id))
    fake.press(admin, ADMIN, address, buttons(address)["Skip"])
    added = await fake.wait_for(
        lambda: fake.sent_to(admin.id)[before] if len(fake.sent_to(admin.id)) > before else None
    )
    assert "Added hearing #5" in added["text"], added["text"]
    russian = UserRef(7301, language_code="ru")
    case = await fake.say(fake.private_chat(russian), russian, "/case tabarak")
    assert "16 декабря 2026\u202fг., 10:00 (по времени Алматы, UTC+5)" in case["text"]
    assert case["text"].count("Жаркентский районный суд, Жаркент") == 3
    async with bot.bot_data.database.reading() as session:
        hearing = await session.get(Hearing, 5)
    assert hearing is not None
    assert hearing.court == "Жаркент аудандық соты"
