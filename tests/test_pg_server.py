"""The PostgreSQL harness itself (tests/pg_server.py, conftest.py's pg_server and pg_url): a
real server, one empty database per test, and a server that can be stopped, crashed and
brought back with what was committed, as the store's fault-injection tests need."""
from __future__ import annotations

import psycopg
import pytest

from pg_server import PostgresServer

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def second_server():
    """A server of this module's own, for the tests that stop, kill and close one: the session's
    pg_server stays up for every other test."""
    server = PostgresServer().start()
    yield server
    server.close()


@pytest.fixture
def restartable_server(second_server):
    """second_server, running at the start of each test whatever the test before left it as
    (stopped, killed or closed)."""
    if second_server.root is None:
        second_server.start()
    elif not _accepts_connections(second_server.url()):
        second_server.start_again()
    return second_server


def _accepts_connections(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def _database_with_a_row(server: PostgresServer, name: str) -> str:
    url = server.create_database(name)
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE kept (v integer)")
        conn.execute("INSERT INTO kept VALUES (42)")
    return url


def test_a_connection_works_on_postgresql_15_or_newer(pg_url):
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        assert conn.info.server_version >= 150000, version
        assert conn.execute("SELECT current_database()").fetchone()[0] == pg_url.rsplit("/", 1)[1]
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    assert tables == 0  # fresh and empty


def test_each_test_database_is_its_own(pg_server, pg_url):
    other_name = "other_" + pg_url.rsplit("/", 1)[1][-8:]
    other_url = pg_server.create_database(other_name)
    try:
        with psycopg.connect(pg_url) as conn:
            conn.execute("CREATE TABLE only_here (v integer)")
        with psycopg.connect(other_url) as other:
            found = other.execute("SELECT to_regclass('only_here')").fetchone()[0]
            assert found is None
    finally:
        pg_server.drop_database(other_name)
    with psycopg.connect(pg_server.url()) as admin:
        names = {r[0] for r in admin.execute("SELECT datname FROM pg_database")}
    assert other_name not in names


def test_committed_data_survives_a_stop_and_start_again(restartable_server):
    url = _database_with_a_row(restartable_server, "survives_stop")
    restartable_server.stop()
    restartable_server.start_again()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [(42,)]
    restartable_server.drop_database("survives_stop")


def test_committed_data_survives_a_crash(restartable_server):
    url = _database_with_a_row(restartable_server, "survives_kill")
    restartable_server.kill()
    restartable_server.start_again()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT v FROM kept").fetchall() == [(42,)]
    assert "database system was interrupted" in restartable_server.log_tail(lines=100)
    restartable_server.drop_database("survives_kill")


def test_clients_fail_while_stopped_and_connect_again_after(restartable_server):
    url = restartable_server.url()
    held = psycopg.connect(url, autocommit=True)
    restartable_server.stop()
    with pytest.raises(psycopg.OperationalError):
        held.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    restartable_server.start_again()
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_close_removes_the_temporary_directory(restartable_server):
    root = restartable_server.root
    assert (root / "data" / "PG_VERSION").is_file()
    restartable_server.close()
    assert not root.exists()
    assert restartable_server.root is None
