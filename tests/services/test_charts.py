"""SVG bar charts: well-formed, escaped, carrying their data, and honest when empty."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from agentic_django.services.charts import Series, bar_chart

SVG = "{http://www.w3.org/2000/svg}"
DAYS = ["2025-03-01", "2025-03-02", "2025-03-03"]


def parse(markup: str) -> ET.Element:
    root = ET.fromstring(markup)
    assert root.tag == f"{SVG}svg"
    return root


def bars(root: ET.Element) -> list[ET.Element]:
    return root.findall(f".//{SVG}rect[@class='bar']")


def test_every_bar_carries_its_agent_day_and_exact_value():
    markup = bar_chart(
        title="LLM cost per day",
        categories=DAYS,
        series=[Series("orders", [0.25, 0.0, 1.5]), Series("refunds", [0.125, 2.0, 0.0])],
        category_key="day",
        series_key="agent",
        format_value=lambda v: f"${v:.3f}",
    )

    found = {
        (bar.get("data-agent"), bar.get("data-day")): bar.get("data-value")
        for bar in bars(parse(markup))
    }

    # Zero values draw no bar.
    assert found == {
        ("orders", "2025-03-01"): "0.25",
        ("orders", "2025-03-03"): "1.5",
        ("refunds", "2025-03-01"): "0.125",
        ("refunds", "2025-03-02"): "2",
    }


def test_bars_have_tooltips_with_the_formatted_value():
    root = parse(
        bar_chart(
            title="Requests",
            categories=DAYS,
            category_labels=["Mar 1", "Mar 2", "Mar 3"],
            series=[Series("orders", [3, 0, 0])],
            format_value=lambda v: f"{v:.0f} requests",
        )
    )
    [bar] = bars(root)
    assert bar.find(f"{SVG}title").text == "orders · Mar 1: 3 requests"
    assert root.find(f"{SVG}title").text == "Requests"
    assert root.get("aria-label") == "Requests"
    assert root.find(f"{SVG}text[@class='chart-title']").text == "Requests"


def test_stacked_bars_sit_on_each_other_and_heights_follow_values():
    root = parse(
        bar_chart(
            title="Requests",
            categories=["d1"],
            series=[Series("a", [10]), Series("b", [30])],
        )
    )
    first, second = bars(root)
    height = lambda bar: float(bar.get("height"))  # noqa: E731
    assert height(second) == pytest.approx(3 * height(first))
    # b starts where a ends.
    assert float(second.get("y")) + height(second) == pytest.approx(float(first.get("y")))
    assert first.get("x") == second.get("x")


def test_grouped_bars_stand_side_by_side_from_the_axis():
    root = parse(
        bar_chart(
            title="Latency",
            categories=["orders"],
            series=[Series("p50", [20]), Series("p95", [80])],
            category_key="agent",
            series_key="percentile",
            stacked=False,
        )
    )
    p50, p95 = bars(root)
    assert (p50.get("data-percentile"), p95.get("data-percentile")) == ("p50", "p95")
    assert p50.get("data-agent") == "orders"
    assert float(p95.get("x")) > float(p50.get("x"))
    bottom = lambda bar: float(bar.get("y")) + float(bar.get("height"))  # noqa: E731
    assert bottom(p50) == pytest.approx(bottom(p95))


def test_axes_and_legend_are_labelled():
    root = parse(
        bar_chart(
            title="Cost",
            categories=DAYS,
            category_labels=["Mar 1", "Mar 2", "Mar 3"],
            series=[Series("orders", [1, 2, 3]), Series("refunds", [1, 1, 1])],
            format_value=lambda v: f"${v:g}",
        )
    )
    y_labels = [text.text for text in root.findall(f".//{SVG}g[@class='axis y-axis']/{SVG}text")]
    x_labels = [text.text for text in root.findall(f".//{SVG}g[@class='axis x-axis']/{SVG}text")]
    legend = [text.text for text in root.findall(f".//{SVG}g[@class='legend']/{SVG}text")]
    assert y_labels[0] == "$0" and y_labels[-1] == "$4"
    assert x_labels == ["Mar 1", "Mar 2", "Mar 3"]
    assert legend == ["orders", "refunds"]


def test_agent_names_are_escaped_everywhere():
    evil = "<script>alert(\"x\")</script> & 'co'"
    markup = bar_chart(
        title="<b>cost</b>",
        categories=[evil],
        series=[Series(evil, [1.0])],
        category_key="agent",
        series_key="series",
    )
    assert "<script>" not in markup and "<b>" not in markup
    root = parse(markup)
    [bar] = bars(root)
    assert bar.get("data-series") == evil and bar.get("data-agent") == evil
    legend = root.findall(f".//{SVG}g[@class='legend']/{SVG}text")
    assert [text.text for text in legend] == [evil]
    assert root.find(f"{SVG}title").text == "<b>cost</b>"


def test_a_chart_without_data_says_so_instead_of_drawing_axes():
    for series in ([], [Series("orders", [0, 0, 0])]):
        root = parse(
            bar_chart(
                title="Cost",
                categories=DAYS,
                series=series,
                empty_message="No LLM cost in this period.",
            )
        )
        assert root.get("data-empty") == "true"
        assert bars(root) == []
        texts = [text.text for text in root.iter(f"{SVG}text")]
        assert texts == ["Cost", "No LLM cost in this period."]


def test_many_days_get_a_readable_number_of_axis_labels():
    days = [f"2025-01-{n:02d}" for n in range(1, 32)] + [f"2025-02-{n:02d}" for n in range(1, 29)]
    root = parse(bar_chart(title="Requests", categories=days, series=[Series("a", [1] * 59)]))
    x_labels = root.findall(f".//{SVG}g[@class='axis x-axis']/{SVG}text")
    assert 6 <= len(x_labels) <= 12
    assert len(bars(root)) == 59


def test_mismatched_lengths_and_bad_keys_are_refused():
    with pytest.raises(ValueError, match="one value per category"):
        bar_chart(title="x", categories=DAYS, series=[Series("a", [1])])
    with pytest.raises(ValueError, match="data- attribute"):
        bar_chart(title="x", categories=DAYS, series=[], category_key='day" onload="x')
