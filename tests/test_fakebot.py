"""The fake Bot API answers as Telegram does, so that tests against it mean something."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fakebot import ApiError, FakeBotApi, Fault, UserRef
from tests.fakebot.entities import EntityError, visible_text


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
