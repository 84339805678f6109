"""The throughput table names each cell's FLOPs method, and its caption explains only the
methods the run used (no PaLM formula cited for a counted or matmul-free model)."""

from __future__ import annotations

from gpubench.report.tables import flops_method_text, throughput_caption

FORMULA = "formula (PaLM B)"
COUNTED = "counted (FlopCounterMode)"
NO_MATMULS = "counted (FlopCounterMode): no matmuls, MFU does not apply"


def test_each_method_has_its_own_words() -> None:
    assert flops_method_text(FORMULA) == "formula (PaLM)"
    assert flops_method_text(COUNTED) == "counted (FlopCounterMode)"
    assert flops_method_text(NO_MATMULS) == "no matmuls: MFU does not apply"
    assert flops_method_text(None) == "—"


def test_the_caption_cites_only_the_methods_used() -> None:
    counted_only = throughput_caption([COUNTED, NO_MATMULS])
    assert "PaLM" not in counted_only
    assert "FlopCounterMode" in counted_only and "MFU does not apply" in counted_only
    formula = throughput_caption([FORMULA, FORMULA])
    assert formula.count("PaLM") == 1 and "FlopCounterMode" not in formula
    assert "PaLM" not in throughput_caption([None])
