"""The member-memory benchmark's settings and its table over seeds (the jobs themselves are
the benchmark's: minutes each)."""

import pytest

from benchmarks.member_memory import parse_setting, table


def _row(setting, stream, seed, acc, train=10.0):
    return {"setting": setting, "stream": stream, "seed": seed, "final_accuracy": acc, "train_seconds": train,
            "meta_kb_per_member_max": 900.0 if setting != "default" else 24975.0, "peak_rss_mb": 1000.0}


def test_settings_parse_to_meta_parameters_and_bad_ones_are_named():
    assert parse_setting("default") == {}
    assert parse_setting("full") == {"meta__member_kb": 0}
    assert parse_setting("full_mb=0") == {"meta__full_mb": 0}
    assert parse_setting("pair_block=512,half_reservoir=true") == {"meta__pair_block": 512, "meta__half_reservoir": True}
    with pytest.raises(ValueError, match="name=value pairs"):
        parse_setting("pair_block=wide")


def test_one_seed_gives_figures_and_several_give_means_ranges_and_paired_differences():
    one = table([_row("default", "a", 0, 0.9), _row("full_mb=0", "a", 0, 0.89)], ["a"], ["default", "full_mb=0"])
    assert "| default | 90.00 |" in one and "Paired" not in one
    rows = [_row("default", "a", 0, 0.90, 10), _row("default", "a", 1, 0.80, 10),
            _row("full_mb=0", "a", 0, 0.89, 15), _row("full_mb=0", "a", 1, 0.81, 15),
            _row("full_mb=0", "a", 2, 0.70, 15)]  # seed 2 has no partner: not in the differences
    text = table(rows, ["a"], ["default", "full_mb=0"])
    assert "| default | 85.00 (80.00 to 90.00) |" in text
    assert "| full_mb=0 | 80.00 (70.00 to 89.00) |" in text
    assert "| full_mb=0 | +0.00 (-1.00 to +1.00) | 1.50 |" in text
