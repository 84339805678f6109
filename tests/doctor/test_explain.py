"""--explain: each known log pattern gives its cause and fix and quotes the line that matched."""

from __future__ import annotations

import json
import re

import pytest

from gpubench.doctor.explain import ExplainContext, explain_text
from gpubench.doctor.log_patterns import LOG_PATTERNS
from tests.doctor.conftest import LOGS


def codes(text: str) -> list[str]:
    return [item.code for item in explain_text(text)]


def test_seed_src_index_assert_names_the_embedding_and_the_crop():
    log = (LOGS / "seed_generate_src_index.txt").read_text()
    explanations = explain_text(log)
    assert [item.code for item in explanations] == ["device-assert-index"]
    item = explanations[0]
    assert "srcIndex < srcSelectDimSize" in item.line
    assert item.line in log
    assert item.line_number == 8
    assert item.occurrences == 3
    assert "generate()" in item.cause and "block_size" in item.cause
    assert "idx_cond = idx[:, -block_size:]" in item.fix
    assert any("CUDA_LAUNCH_BLOCKING=1" in step for step in item.fix)
    assert any("CPU" in step for step in item.fix)


def test_clobber_error_names_both_packages_and_the_path():
    log = (LOGS / "conda_clobber_jpeg.txt").read_text()
    explanations = explain_text(log, ExplainContext(python="3.11", env_name="gpt-clean"))
    assert [item.code for item in explanations] == ["conda-clobber"]
    item = explanations[0]
    assert item.occurrences == 3
    assert item.line.startswith("ClobberError: This transaction has incompatible packages")
    assert "jpeg 9e (defaults via mirrors.example.edu.cn)" in item.cause
    assert "libjpeg-turbo 2.0.0 (pytorch)" in item.cause
    assert "share/man/man1/rdjpgcom.1" in item.cause
    assert item.fix[:3] == (
        "conda clean --all -y",
        "conda create -n gpt-clean python=3.11 -y",
        "conda activate gpt-clean",
    )


def test_known_package_clobber_error_spread_over_lines():
    log = (
        "ClobberError: The package 'pytorch/linux-64::libjpeg-turbo-2.0.0-h9bf148f_0' cannot be "
        "installed due to a\npath collision for 'share/man/man1/rdjpgcom.1'.\nThis path already "
        "exists in the target prefix, and it won't be removed by\nan uninstall action in this "
        "transaction. The path appears to be coming from\nthe package "
        "'defaults/linux-64::jpeg-9e-h5eee18b_1', which is already installed in the prefix.\n"
    )
    (item,) = explain_text(log)
    assert item.code == "conda-clobber"
    assert "libjpeg-turbo 2.0.0 (pytorch) and jpeg 9e (defaults)" in item.cause
    assert "share/man/man1/rdjpgcom.1" in item.cause


def test_conflicting_files_from_another_package_manager():
    log = (
        "ClobberError: The package 'conda-forge/linux-64::libcublas-12.4.5.8-h0' cannot be "
        "installed due to a\npath collision for 'lib/libcublas.so.12'.\nThis path already exists "
        "in the target prefix, and it won't be removed\nby an uninstall action in this "
        "transaction. The path is one that conda\ndoesn't recognize. It may have been created by "
        "another package manager.\n"
    )
    (item,) = explain_text(log)
    assert "a file conda does not know" in item.cause


# One realistic line (or excerpt) per pattern that doctor.md's log explainer must know.
SPEC_PATTERNS = {
    "conda-safety-error": "SafetyError: The package for pytorch located at "
    "/home/u/miniconda3/pkgs/pytorch-2.1.0-py3.11_cuda12.1_cudnn8.9.2_0\n"
    "appears to be corrupted. The path 'lib/libtorch_cuda.so'\nhas an incorrect size.",
    "driver-insufficient": "RuntimeError: CUDA error: CUDA driver version is insufficient for "
    "CUDA runtime version",
    "no-kernel-image": "RuntimeError: CUDA error: no kernel image is available for execution on "
    "the device",
    "not-compiled-with-cuda": "AssertionError: Torch not compiled with CUDA enabled",
    "cuda-out-of-memory": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. "
    "GPU 0 has a total capacity of 23.65 GiB of which 1.12 GiB is free.",
    "undefined-symbol": "ImportError: /venv/lib/python3.10/site-packages/torch/lib/../../nvidia/"
    "cusparse/lib/libcusparse.so.12: undefined symbol: __nvJitLinkAddData_12_1, version "
    "libnvJitLink.so.12",
    "cudnn-missing": "OSError: libcudnn.so.9: cannot open shared object file: No such file or "
    "directory",
    "nvidia-smi-failed": "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA "
    "driver. Make sure that the latest NVIDIA driver is installed and running.",
    "no-nvidia-driver": "RuntimeError: Found no NVIDIA driver on your system. Please check that "
    "you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx",
    "tensors-on-different-devices": "RuntimeError: Expected all tensors to be on the same device, "
    "but found at least two devices, cuda:0 and cpu!",
    "conda-packages-not-found": "PackagesNotFoundError: The following packages are not available "
    "from current channels:\n\n  - pytorch-cuda=12.8\n\nCurrent channels:\n",
    "conda-unsatisfiable": "UnsatisfiableError: The following specifications were found\nto be "
    "incompatible with the existing python installation in your environment:",
    "device-assert-targets": "Loss.cu:250: nll_loss_forward_reduce_cuda_kernel_2d: block: [0,0,0],"
    " thread: [5,0,0] Assertion `t >= 0 && t < n_classes` failed.",
    "device-assert": "RuntimeError: CUDA error: device-side assert triggered",
    "index-out-of-range": "IndexError: index out of range in self",
    "driver-too-old": "RuntimeError: The NVIDIA driver on your system is too old (found version "
    "11040). Please update your GPU driver",
    "capability-unsupported": "NVIDIA GeForce RTX 5090 with CUDA capability sm_120 is not "
    "compatible with the current PyTorch installation.",
    "driver-library-mismatch": "Failed to initialize NVML: Driver/library version mismatch",
    "cuda-forward-compat": "Error 804: forward compatibility was attempted on non supported HW",
    "libcuda-missing": "OSError: libcuda.so.1: cannot open shared object file: No such file or "
    "directory",
    "conda-verification-error": "CondaVerificationError: The package for pytorch located at "
    "/opt/conda/pkgs/pytorch-2.1.0-py3.11_cuda12.1_cudnn8.9.2_0\nappears to be corrupted.",
    "cuda-unknown-error": "RuntimeError: CUDA unknown error - this may be due to an incorrectly "
    "set up environment",
    "no-cuda-gpus": "RuntimeError: No CUDA GPUs are available",
    "no-matching-distribution": "ERROR: No matching distribution found for torch==2.1.2",
    "numpy-abi": "A module that was compiled using NumPy 1.x cannot be run in\nNumPy 2.1.3 as it "
    "may crash.",
}


@pytest.mark.parametrize("code", sorted(SPEC_PATTERNS))
def test_each_pattern_is_recognised_and_quoted(code: str):
    log = "some output before\n" + SPEC_PATTERNS[code] + "\nsome output after\n"
    explanations = explain_text(log)
    assert code in [item.code for item in explanations]
    item = next(item for item in explanations if item.code == code)
    assert item.line and item.line in log
    assert item.cause and "?" not in item.cause.split()
    assert item.fix


def test_every_pattern_in_the_table_has_a_test_line_and_a_source():
    catalogue = json.loads((LOGS / "catalogue" / "expect.json").read_text(encoding="utf-8"))
    in_catalogue = {item["code"] for item in catalogue.values() if item["code"]}
    tested = set(SPEC_PATTERNS) | {"conda-clobber", "device-assert-index"} | in_catalogue
    assert {pattern.code for pattern in LOG_PATTERNS} == tested
    assert all(pattern.source for pattern in LOG_PATTERNS)


def test_every_regex_of_the_table_ignores_letter_case():
    """Logs change case between versions: the table's patterns carry the flag themselves."""
    for pattern in LOG_PATTERNS:
        for regex in (pattern.trigger, *pattern.context):
            assert regex.flags & re.IGNORECASE, pattern.code


def test_specific_details_are_filled_in():
    (oom,) = explain_text(SPEC_PATTERNS["cuda-out-of-memory"])
    assert "2.00 GiB" in oom.cause
    (old,) = explain_text(SPEC_PATTERNS["driver-too-old"])
    assert "CUDA 11.4" in old.cause
    (devices,) = explain_text(SPEC_PATTERNS["tensors-on-different-devices"])
    assert "cuda:0 and cpu" in devices.cause
    (missing,) = explain_text(SPEC_PATTERNS["conda-packages-not-found"])
    assert "pytorch-cuda=12.8" in missing.cause and "2.5" in missing.cause
    (symbol,) = explain_text(SPEC_PATTERNS["undefined-symbol"])
    assert "libnvJitLink" in symbol.cause


def test_a_specific_assert_hides_the_generic_one():
    log = SPEC_PATTERNS["device-assert-targets"] + "\n" + SPEC_PATTERNS["device-assert"]
    assert codes(log) == ["device-assert-targets"]


def test_fixes_use_the_machine_context():
    context = ExplainContext(torch_install="python -m pip install torch==2.13.0 --index-url X")
    (item,) = explain_text(SPEC_PATTERNS["not-compiled-with-cuda"], context)
    assert "python -m pip install torch==2.13.0 --index-url X" in item.fix


def test_unknown_logs_match_nothing():
    assert explain_text((LOGS / "unrelated.txt").read_text()) == []
    assert explain_text("") == []
