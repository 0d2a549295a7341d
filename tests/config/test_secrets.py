"""Secrets come from the environment only; live trading needs mode: live AND keys in env."""

import pytest

from tapeflow.config import ConfigError


@pytest.mark.parametrize(
    ("yaml_text", "path", "env_hint"),
    [
        ("execution: {api_key: abc123}", "execution.api_key", "BINANCE_API_KEY"),
        ("execution: {api_secret: s3cr3t}", "execution.api_secret", "BINANCE_API_SECRET"),
        ("notify: {sendgrid_api_key: xyz}", "notify.sendgrid_api_key", "SENDGRID_API_KEY"),
        ("state: {password: hunter2}", "state.password", "GOOGLE_APPLICATION_CREDENTIALS"),
        (
            "symbols:\n  binance/usdm/BTCUSDT: {secret: topsecret}",
            "symbols[binance/usdm/BTCUSDT].secret",
            "an environment variable",
        ),
        ("defaults: {risk: {token: t0k3n}}", "defaults.risk.token", "an environment variable"),
    ],
)
def test_secret_like_keys_are_refused_without_echoing_the_value(
    load_yaml, yaml_text, path, env_hint
):
    with pytest.raises(ConfigError) as info:
        load_yaml(yaml_text)
    (problem,) = info.value.problems
    assert problem.path == path
    assert "secrets are not accepted in configuration files" in problem.rule
    assert env_hint in problem.rule
    value = yaml_text.split(": ")[-1].strip("{} \n")
    assert value not in str(info.value)


def test_a_sendgrid_key_value_is_refused_under_any_name(problems):
    key = "SG." + "a" * 22 + "." + "b" * 43
    got = problems(f"notify: {{from_address: '{key}'}}")
    assert list(got) == ["notify.from_address"]
    assert "looks like an API key" in got["notify.from_address"]
    assert key not in got["notify.from_address"]


def test_names_that_merely_mention_keys_are_fine(load_yaml):
    # e.g. a field *naming* an environment variable is not a secret
    cfg = load_yaml("symbols:\n  - {symbol: BTCUSDT, market: usdm}\n")
    assert cfg.symbols


LIVE = "execution: {mode: live}\nsymbols:\n  - {symbol: BTCUSDT, market: usdm}\n"


def test_live_mode_needs_keys_in_the_environment(problems):
    got = problems(LIVE, env={"BINANCE_API_KEY": "k"})
    assert got == {
        "execution.mode": "'live' places real orders and needs the exchange keys in the "
        "environment; missing: BINANCE_API_SECRET (or set mode: paper)"
    }


def test_live_mode_with_keys_loads_and_paper_is_the_default(load_yaml):
    cfg = load_yaml(LIVE, env={"BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"})
    assert cfg.execution.mode == "live"
    # keys in the environment alone never switch to live
    cfg = load_yaml(
        "symbols:\n  - {symbol: BTCUSDT, market: usdm}\n",
        env={"BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"},
    )
    assert cfg.execution.mode == "paper"
