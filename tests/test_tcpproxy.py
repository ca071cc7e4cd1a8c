"""The TCP proxy forwards until cut, then fails connections the way a vanished server does."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import DATABASE_URL_VAR
from tests.tcpproxy import TcpProxy, proxied_url


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionResetError):  # the proxy's cut resets this side too
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    """A tiny echo server on loopback."""
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
async def echo_proxy(echo_port: int) -> AsyncIterator[TcpProxy]:
    async with TcpProxy("127.0.0.1", echo_port) as proxy:
        yield proxy


async def _roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await reader.readexactly(len(payload))
    finally:
        writer.close()


async def test_forwards_both_ways(echo_proxy: TcpProxy) -> None:
    assert echo_proxy.port != 0
    payload = b"x" * 300_000  # more than one read's worth
    assert await _roundtrip(echo_proxy.port, payload) == payload


async def test_half_close_is_forwarded(echo_proxy: TcpProxy) -> None:
    """A client that shuts down its sending side still reads the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_proxy.port)
    writer.write(b"last words")
    writer.write_eof()
    assert await reader.read() == b"last words"
    writer.close()
    await writer.wait_closed()


async def test_cut_resets_open_connections_and_refuses_new_ones(echo_proxy: TcpProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_proxy.port)
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    assert echo_proxy.connections == 1

    await echo_proxy.cut()

    assert echo_proxy.connections == 0
    with pytest.raises(ConnectionResetError):
        await reader.read(1)
    writer.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", echo_proxy.port)


async def test_gentle_cut_closes_with_eof(echo_proxy: TcpProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_proxy.port)
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    await echo_proxy.cut(reset=False)
    assert await reader.read(1) == b""
    writer.close()


async def test_restore_listens_again_on_the_same_port(echo_proxy: TcpProxy) -> None:
    port = echo_proxy.port
    await echo_proxy.cut()
    await echo_proxy.restore()
    assert echo_proxy.port == port
    assert await _roundtrip(port, b"back") == b"back"


async def test_unreachable_target_resets_the_client() -> None:
    async with TcpProxy("127.0.0.1", 1) as proxy:  # nothing listens on port 1
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        with pytest.raises(ConnectionResetError):
            await reader.read(1)
        writer.close()


def test_proxied_url_keeps_everything_but_the_address() -> None:
    url = "postgresql+asyncpg://hw:s3cret@db.example:5432/hearings?ssl=disable"
    assert proxied_url(url, 40001) == (
        "postgresql+asyncpg://hw:s3cret@127.0.0.1:40001/hearings?ssl=disable"
    )


# --- against PostgreSQL (when TEST_DATABASE_URL names one) ---------------------------------------


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get(DATABASE_URL_VAR, "")
    if not url.startswith("postgresql"):
        pytest.skip(f"{DATABASE_URL_VAR} names no PostgreSQL database")
    return url


@pytest.fixture
async def pg_proxy(postgres_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(postgres_url)
    async with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


async def _asyncpg_connect(url: str) -> asyncpg.Connection:
    parsed = make_url(url)
    return await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
        timeout=5,
    )


async def test_asyncpg_through_the_proxy_fails_on_cut_and_recovers(
    postgres_url: str, pg_proxy: TcpProxy
) -> None:
    url = proxied_url(postgres_url, pg_proxy.port)
    connection = await _asyncpg_connect(url)
    assert await connection.fetchval("SELECT 1") == 1
    assert pg_proxy.connections == 1

    await pg_proxy.cut()

    # An idle connection notices the reset by itself and is closed before it is used again.
    assert connection.is_closed()
    with pytest.raises(asyncpg.InterfaceError, match="connection is closed"):
        await connection.fetchval("SELECT 1")
    with pytest.raises(ConnectionRefusedError):
        await _asyncpg_connect(url)

    await pg_proxy.restore()

    again = await _asyncpg_connect(url)
    try:
        assert await again.fetchval("SELECT 1") == 1
    finally:
        await again.close()


async def test_asyncpg_query_in_flight_fails_on_cut(postgres_url: str, pg_proxy: TcpProxy) -> None:
    connection = await _asyncpg_connect(proxied_url(postgres_url, pg_proxy.port))
    query = asyncio.ensure_future(connection.fetchval("SELECT pg_sleep(5)"))
    await asyncio.sleep(0.2)  # the query reached the server
    await pg_proxy.cut()
    # Not an InterfaceError as for an idle connection: a PostgresConnectionError.
    with pytest.raises(asyncpg.ConnectionDoesNotExistError):
        await query


async def test_sqlalchemy_engine_through_the_proxy_fails_on_cut_and_recovers(
    postgres_url: str, pg_proxy: TcpProxy
) -> None:
    engine = create_async_engine(proxied_url(postgres_url, pg_proxy.port))
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1

        await pg_proxy.cut()

        # The pooled connection is dead: SQLAlchemy recognises a disconnect and invalidates it.
        with pytest.raises(exc.InterfaceError) as failure:
            async with engine.connect() as connection:
                await connection.scalar(text("SELECT 1"))
        assert failure.value.connection_invalidated
        # A new connection is refused, and SQLAlchemy does not wrap that in a DBAPIError:
        # code that catches only sqlalchemy.exc.DBAPIError misses "the database is down".
        with pytest.raises(ConnectionRefusedError):
            async with engine.connect() as connection:
                await connection.scalar(text("SELECT 1"))

        await pg_proxy.restore()

        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


async def test_sqlalchemy_query_in_flight_fails_on_cut(
    postgres_url: str, pg_proxy: TcpProxy
) -> None:
    engine = create_async_engine(proxied_url(postgres_url, pg_proxy.port))
    try:
        async with engine.connect() as connection:
            query = asyncio.ensure_future(connection.scalar(text("SELECT pg_sleep(5)")))
            await asyncio.sleep(0.2)
            await pg_proxy.cut()
            with pytest.raises(
                exc.DBAPIError, match="closed in the middle of operation"
            ) as failure:
                await query
            assert failure.value.connection_invalidated
    finally:
        await engine.dispose()
