"""Backend URLs and their options: one parser for every adapter, one-line errors that name
the option and never the password. Parsing only: nothing here opens a socket."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from adapters._options import split_url
from adapters.aurora.config import AuroraConfig, dialect_of
from adapters.aurora.sql import UPSERT_WINDOWS
from adapters.elasticache.link import DEFAULT_PREFIX, parse_redis_url
from adapters.memory import open_backend as open_memory
from adapters.sqs import parse_sqs_url
from cloudperf_core.backends import open_backend, redact_url, scheme_of
from cloudperf_core.errors import BackendConfigError

PASSWORD = "pa55-w0rd"


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("mysql://u:{pw}@h/db?connect_timeout_s=nan", "connect_timeout_s"),
        ("mysql://u:{pw}@h/db?connect_timeout_s=inf", "connect_timeout_s"),
        ("mysql://u:{pw}@h/db?statement_timeout_s=-1", "statement_timeout_s"),
        ("mysql://u:{pw}@h/db?pool_size=0", "pool_size"),
        ("mysql://u:{pw}@h/db?pool_size=two", "pool_size"),
        ("mysql://u:{pw}@h/db?ssl_verify=maybe", "ssl_verify"),
        ("mysql://u:{pw}@h/db?pool_size=2&pool_size=3", "pool_size"),
        ("mysql://u:{pw}@h/db?pool_min=5", "pool_min"),
        ("mysql://u:{pw}@h/db?bogus=1", "bogus"),
        ("mysql://u:{pw}@[::1/db", "malformed"),
        ("mysql://u:{pw}@h:99999/db", "malformed"),
        ("redis://:{pw}@h/0?timeout_s=nan", "timeout_s"),
        ("redis://:{pw}@h/0?horizon_s=30", "horizon_s"),
        ("redis://:{pw}@h/x", "db"),
        ("sqs://q?call_timeout_s=inf", "call_timeout_s"),
        ("sqs://q?wait_s=25", "wait_s"),
        ("memory://x?max_receives=0", "max_receives"),
    ],
)
async def test_a_bad_option_is_one_line_naming_it_and_never_the_password(
    url: str, names: str
) -> None:
    url = url.format(pw=PASSWORD)
    port = {"mysql": "store", "redis": "cache", "sqs": "reports", "memory": "reports"}
    with pytest.raises(BackendConfigError) as info:
        await open_backend(url, port[scheme_of(url)])  # type: ignore[arg-type]
    message = str(info.value)
    assert names in message
    assert PASSWORD not in message
    assert "\n" not in message


def test_options_reach_the_adapter_typed_with_defaults() -> None:
    config = AuroraConfig.from_url(
        f"mysql://app:{PASSWORD}@db.example:3307/cp?connect_timeout_s=2&max_attempts=3"
    )
    assert (config.host, config.port, config.user, config.database) == (
        "db.example",
        3307,
        "app",
        "cp",
    )
    assert (config.options.connect_timeout_s, config.options.max_attempts) == (2.0, 3)
    assert config.options.pool_size == 2  # the Lambda-sized default
    assert PASSWORD not in repr(config) and PASSWORD not in config.redacted_url
    assert config.ssl_context is None


def test_a_percent_encoded_password_is_decoded() -> None:
    config = AuroraConfig.from_url("mysql://app:p%40ss%2Fw@db/cp")
    assert config.password == "p@ss/w"


def test_the_time_to_an_error_is_bounded_by_the_options() -> None:
    config = AuroraConfig.from_url(
        "mysql://h/db?connect_timeout_s=2&statement_timeout_s=10&max_attempts=3&deadline_s=600"
    )
    # 3 attempts of (connect + statement), waits of at most 0.05 and 0.1 s between them
    assert config.retry_policy.worst_case_s == pytest.approx(3 * 12 + 0.05 + 0.1)
    assert AuroraConfig.from_url("mysql://h/db?deadline_s=20").retry_policy.worst_case_s == 20


def test_mysql_tls_options_build_the_context(tmp_path: Path) -> None:
    verified = AuroraConfig.from_url("mysql://h/db?ssl=1").ssl_context
    assert verified is not None
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
    unverified = AuroraConfig.from_url("mysql://h/db?ssl=1&ssl_verify=0").ssl_context
    assert unverified is not None
    assert unverified.verify_mode == ssl.CERT_NONE and not unverified.check_hostname
    with pytest.raises(BackendConfigError, match="ssl_ca"):
        AuroraConfig.from_url(f"mysql://h/db?ssl_ca={tmp_path / 'missing.pem'}")
    with pytest.raises(BackendConfigError, match="ssl_verify=0 needs"):
        AuroraConfig.from_url("mysql://h/db?ssl_verify=0")


@pytest.mark.parametrize(
    ("version", "dialect"),
    [
        ("10.11.19-MariaDB-0+deb12u1", "values"),
        ("11.4.2-MariaDB", "values"),
        ("5.7.44-log", "values"),
        ("8.0.18", "values"),
        ("8.0.19", "alias"),
        ("8.0.36", "alias"),
        ("8.4.0", "alias"),
        ("8.0.mysql_aurora.3.05.2", "alias"),
    ],
)
def test_the_upsert_syntax_follows_the_server(version: str, dialect: str) -> None:
    assert dialect_of(version) == dialect


def test_both_upsert_texts_set_the_same_columns() -> None:
    by_values, by_alias = UPSERT_WINDOWS["values"], UPSERT_WINDOWS["alias"]
    assert (
        "AS new ON DUPLICATE KEY UPDATE" in by_alias
        and "VALUES(" not in by_alias.split("UPDATE")[1]
    )
    assert by_values.split("UPDATE")[1].replace("VALUES(", "new.").replace(")", "") == (
        by_alias.split("UPDATE")[1].replace(")", "")
    )


def test_redis_defaults_keep_every_key_in_one_cluster_slot() -> None:
    settings = parse_redis_url("rediss://cache.example:6379/0?cluster=1")
    assert settings.options.prefix == DEFAULT_PREFIX == "{cloudperf}:"
    assert settings.tls and settings.db == 0


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("rediss://h/2?cluster=1", "database 0 only"),
        ("rediss://h/0?cluster=1&prefix=cloudperf:", "hash tag"),
        ("rediss://h/0?cluster=1&prefix={}:", "hash tag"),
    ],
)
def test_cluster_mode_refuses_what_elasticache_serverless_cannot_do(url: str, reason: str) -> None:
    with pytest.raises(BackendConfigError, match=reason):
        parse_redis_url(url)


def test_sqs_queue_names_keep_their_case() -> None:
    name, options = parse_sqs_url("sqs://Reports-Prod?region=eu-west-1&wait_s=0")
    assert (name, options.region, options.wait_s) == ("Reports-Prod", "eu-west-1", 0)


async def test_memory_options_apply() -> None:
    queue = await open_memory("memory://?max_receives=2", "reports")
    assert queue.max_receives == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://u:{PASSWORD}@[::1/db",
        f"redis://:{PASSWORD}@[oops:6379/0",
        f"mysql://u:{PASSWORD}@h:notaport/db",
    ],
)
def test_malformed_urls_are_redacted_without_raising(url: str) -> None:
    assert PASSWORD not in redact_url(url)
    with pytest.raises(BackendConfigError) as info:
        split_url(url)
    assert PASSWORD not in str(info.value)


def test_redaction_keeps_everything_but_the_password() -> None:
    assert redact_url("mysql://app:pw@db:3306/x?a=1") == "mysql://app:***@db:3306/x?a=1"
    assert redact_url("redis://:pw@cache/0") == "redis://:***@cache/0"
    assert redact_url("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"
    assert redact_url("redis://user@cache/0") == "redis://user@cache/0"
