"""One name per setting from the YAML/CLI to the executors: ExecutionConfig's fields are
the keyword names and defaults of `run_ray` and `run_local`, and `run_job` passes them on."""

from __future__ import annotations

import ast
import dataclasses
import inspect

import pytest

from ntscale.cli import common
from ntscale.config import ExecutionConfig
from ntscale.runner.local import run_local
from ntscale.runner.ray import run_ray

FIELDS = {f.name: f.default for f in dataclasses.fields(ExecutionConfig)}
# Executor arguments that are not run settings: the job, the progress label, the CPUs of a
# private Ray (tests), an open worker (benchmarks); `progress` defaults off for library calls.
NOT_SETTINGS = {"job", "label", "num_cpus", "worker", "progress"}
# `ray` is the module inside runner/ray.py: ExecutionConfig.ray arrives as `address`.
RENAMED = {"address": "ray"}


@pytest.mark.parametrize("executor", [run_ray, run_local])
def test_executor_keywords_are_execution_settings_with_their_defaults(executor):
    params = inspect.signature(executor).parameters
    for name, param in params.items():
        if name in NOT_SETTINGS:
            continue
        field = RENAMED.get(name, name)
        assert field in FIELDS, f"{executor.__name__}({name}=) is not an ExecutionConfig field"
        assert param.default == FIELDS[field], f"{executor.__name__}({name}=) default differs"


def _keywords_passed(function_name: str) -> dict[str, str]:
    """`keyword -> execution.<field>` of the call to `function_name` inside `run_job`."""
    tree = ast.parse(inspect.getsource(common.run_job))
    call = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == function_name
    )
    return {
        kw.arg: kw.value.attr
        for kw in call.keywords
        if isinstance(kw.value, ast.Attribute) and getattr(kw.value.value, "id", "") == "execution"
    }


@pytest.mark.parametrize("executor", [run_ray, run_local])
def test_run_job_passes_every_setting_under_its_own_name(executor):
    passed = _keywords_passed(executor.__name__)
    wanted = set(inspect.signature(executor).parameters) - NOT_SETTINGS
    assert set(passed) == wanted
    for keyword, field in passed.items():
        assert RENAMED.get(keyword, keyword) == field
