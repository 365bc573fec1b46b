from __future__ import annotations

import pytest

from agentic_django.llm import LLMUsage, ModelPrice, build_price_table, cost_usd, is_priced
from agentic_django.llm.pricing import price_for


def test_cost_is_tokens_times_price_per_million() -> None:
    usage = LLMUsage(input_tokens=1_000_000, output_tokens=500_000)
    assert cost_usd("claude-sonnet-4-6", usage) == pytest.approx(3.0 + 7.5)
    assert cost_usd("gpt-4o-mini", LLMUsage(2000, 1000)) == pytest.approx(0.0003 + 0.0006)


def test_dated_model_ids_match_the_longest_family_entry() -> None:
    assert price_for("gpt-4o-2024-08-06") == ModelPrice(2.5, 10.0)
    assert price_for("gpt-4o-mini-2024-07-18") == ModelPrice(0.15, 0.6)
    assert price_for("claude-opus-4-20250514") == ModelPrice(15.0, 75.0)
    assert price_for("claude-opus-4-5-20251101") == ModelPrice(5.0, 25.0)
    assert price_for("models/gemini-2.5-flash") == ModelPrice(0.3, 2.5)


def test_unknown_models_cost_nothing_and_are_reported_unpriced() -> None:
    assert cost_usd("my-local-llama", LLMUsage(10_000, 10_000)) == 0.0
    assert not is_priced("my-local-llama")
    assert is_priced("mock") and cost_usd("mock", LLMUsage(10**6, 10**6)) == 0.0


def test_settings_overrides_extend_and_replace_the_defaults() -> None:
    table = build_price_table(
        {"my-local-llama": {"input": 0.5, "output": 1.0}, "gpt-4o": {"input": 1, "output": 2}}
    )
    assert cost_usd("my-local-llama", LLMUsage(2_000_000, 1_000_000), table) == pytest.approx(2.0)
    assert cost_usd("gpt-4o", LLMUsage(1_000_000, 0), table) == pytest.approx(1.0)
    assert is_priced("claude-haiku-4-5", table)


def test_malformed_override_is_rejected_with_the_expected_shape() -> None:
    with pytest.raises(ValueError, match="'input'"):
        build_price_table({"x": {"in": 1.0}})


def test_each_cost_names_the_table_that_priced_it():
    from agentic_django.llm.pricing import price_call

    table = build_price_table({"my-local-llama": {"input": 1.0, "output": 0.0}})
    usage = LLMUsage(1_000_000, 0)
    assert price_call("my-local-llama", usage, table) == (pytest.approx(1.0), "setting")
    assert price_call("claude-sonnet-4-6", usage, table) == (pytest.approx(3.0), "genai-prices")
    assert price_call("mock", usage, table) == (0.0, "built-in")
    assert price_call("never-heard-of-it", usage, table) == (0.0, "")


def test_a_pricing_setting_overrides_genai_prices():
    from agentic_django.llm.pricing import price_call

    table = build_price_table({"gpt-4o": {"input": 1.0, "output": 1.0}})
    assert price_call("gpt-4o-2024-08-06", LLMUsage(1_000_000, 0), table) == (
        pytest.approx(1.0),
        "setting",
    )


def test_long_prompts_are_priced_at_genai_prices_tier():
    # Sonnet 4.5 costs more per token above 200k input tokens; a flat table missed that.
    long_prompt = cost_usd("claude-sonnet-4-5", LLMUsage(1_000_000, 0))
    assert long_prompt > price_for("claude-sonnet-4-5").input
