"""Version rules (data from facts-cuda.md) and the wheel each machine should install."""

from __future__ import annotations

import pytest

from gpubench.doctor import advice, rules


@pytest.mark.parametrize(
    ("driver", "cuda", "expected"),
    [
        ("570.26", "12.8", rules.NATIVE),
        ("570.133.07", "12.8", rules.NATIVE),
        ("560.35.05", "12.8", rules.MINOR_COMPAT),
        ("535.183.01", "12.8", rules.MINOR_COMPAT),
        ("525.60.13", "12.6", rules.MINOR_COMPAT),
        ("520.61.05", "12.1", rules.UNSUPPORTED),
        ("470.199.02", "12.1", rules.UNSUPPORTED),
        ("470.199.02", "11.8", rules.MINOR_COMPAT),
        ("450.51.05", "11.8", rules.UNSUPPORTED),  # 11.x compat needs 450.80.02
        ("580.65.06", "13.0", rules.NATIVE),
        ("575.57.08", "13.0", rules.UNSUPPORTED),  # no 13.x on a 12.x driver
        ("590.44.01", "13.2", rules.MINOR_COMPAT),
        ("", "12.8", rules.UNKNOWN),
    ],
)
def test_driver_support(driver: str, cuda: str, expected: str):
    assert rules.driver_support(driver, cuda) == expected


def test_windows_drivers_use_their_own_column():
    assert rules.driver_support("570.50", "12.8") == rules.NATIVE  # Linux needs 570.26
    assert rules.driver_support("570.50", "12.8", windows=True) == rules.MINOR_COMPAT  # 570.65
    assert rules.minimum_driver("13.0", windows=True) is None


def test_newest_cuda_of_a_driver():
    assert rules.newest_cuda_of_driver("570.133.07") == "12.8"
    assert rules.newest_cuda_of_driver("535.183.01") == "12.2"
    assert rules.newest_cuda_of_driver("470.199.02") == "11.4"


@pytest.mark.parametrize(("value", "text"), [(12080, "12.8"), (13000, "13.0"), (11040, "11.4")])
def test_nvml_cuda_driver_version_decoding(value: int, text: str):
    assert rules.decode_cuda_driver_version(value) == text


@pytest.mark.parametrize(
    ("capability", "arch_list", "supported"),
    [
        ("8.9", ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], True),  # sm_86
        ("12.0", ["sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"], False),
        ("12.0", ["sm_80", "sm_90", "compute_90"], True),  # PTX is JIT-compiled forward
        ("6.1", ["sm_70", "sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"], False),
        ("6.1", ["sm_50", "sm_60", "sm_70"], True),
        ("9.0", ["sm_90a"], True),
        ("10.0", ["sm_90a"], False),
        ("9.0", ["sm_80", "sm_86"], False),  # SASS does not cross a major version
        ("12.0", ["7.5", "8.0", "12.0+PTX"], True),
        ("12.1", ["7.5", "12.0"], True),
    ],
)
def test_capability_supported(capability: str, arch_list: list[str], supported: bool):
    assert rules.capability_supported(capability, arch_list) is supported


def test_tables_are_ordered_sourced_and_consistent():
    releases = [rules.parse_version(row.release) for row in rules.TORCH_RELEASES]
    assert releases == sorted(releases, reverse=True)
    for row in rules.TORCH_RELEASES:
        assert row.source.startswith("http")
        for cuda in row.published_cuda:  # every published build has a driver rule
            assert rules.minimum_driver(cuda) is not None, (row.release, cuda)
    for table in (rules.CUDA_MINIMUM_DRIVERS, rules.MINOR_VERSION_COMPATIBILITY, rules.ARCH_LISTS):
        assert all(entry.source for entry in table)
    for arch in rules.ARCH_LISTS:
        for release in arch.releases:
            row = rules.find_release(release)
            assert row is not None and arch.cuda in row.published_cuda, (release, arch.cuda)


def test_version_helpers():
    assert rules.public_version("2.13.0+cu128") == "2.13.0"
    assert rules.release_of("2.13.0+cpu") == "2.13"
    assert rules.cuda_variant("12.8") == "cu128"
    assert rules.cuda_variant("13.0") == "cu130"
    assert rules.parse_version("570.133.07") == (570, 133, 7)
    assert rules.parse_version("2.5.0a0+git123") == (2, 5, 0)
    assert rules.format_capability("12.0") == "sm_120"


@pytest.mark.parametrize(
    ("torch_version", "driver", "capabilities", "variant", "pin"),
    [
        ("2.13.0+cpu", "570.133.07", ("8.9",), "cu126", "2.13.0"),  # cu130 needs 580
        ("2.13.0+cpu", "590.48.01", ("8.9",), "cu130", "2.13.0"),
        ("2.13.0+cpu", None, (), "cu130", "2.13.0"),  # driver unknown: newest stable
        ("2.1.2+cu121", "470.199.02", ("8.6",), "cu118", "2.1.2"),  # 11.x minor compat
        ("2.8.0+cu126", "575.64.03", ("12.0",), "cu128", "2.8.0"),  # Blackwell needs cu128
        ("2.8.0+cu128", "570.153.02", ("6.1",), "cu126", "2.8.0"),  # Pascal needs cu126
        ("2.11.0", "570.26", ("7.0",), "cu126", "2.11.0"),  # Volta left cu128 in 2.11
        ("2.13.0", "470.199.02", (), "cu118", "2.7.*"),  # nothing in 2.13 runs on 470
    ],
)
def test_plan_cuda_install(torch_version, driver, capabilities, variant, pin):
    plan = advice.plan_cuda_install(
        torch_version=torch_version,
        driver_version=driver,
        python_version="3.11.9",
        capabilities=capabilities,
    )
    assert plan is not None
    assert (plan.variant, plan.pin) == (variant, pin)
    assert plan.index_url == f"https://download.pytorch.org/whl/{variant}"


def test_plan_respects_the_python_version():
    plan = advice.plan_cuda_install(
        torch_version=None, driver_version="470.199.02", python_version="3.13.1"
    )
    assert plan is not None and (plan.release, plan.variant) == ("2.7", "cu118")


def test_no_plan_when_no_build_fits():
    plan = advice.plan_cuda_install(
        torch_version="2.13.0", driver_version="440.33.01", python_version="3.11.9"
    )
    assert plan is None


def test_pip_command_keeps_companions_unpinned():
    plan = advice.plan_cuda_install(
        torch_version="2.13.0+cpu", driver_version="570.133.07", python_version="3.11.9"
    )
    assert plan is not None
    assert plan.pip_install(("torchvision",)) == (
        "python -m pip install torch==2.13.0 torchvision "
        "--index-url https://download.pytorch.org/whl/cu126"
    )


def test_describe_choice_names_what_newer_builds_need():
    plan = advice.plan_cuda_install(
        torch_version="2.13.0+cpu", driver_version="570.133.07", python_version="3.11.9"
    )
    assert plan is not None
    text = advice.describe_choice(plan, driver_version="570.133.07", windows=False)
    assert text.startswith("cu126 is the newest CUDA build of torch 2.13")
    assert "cu130 needs driver >= 580.65.06" in text and "cu132 needs driver >= 595.45.04" in text
