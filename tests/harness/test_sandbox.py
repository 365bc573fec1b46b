from __future__ import annotations

import asyncio
import os
import signal

import pytest

from agentic_django.core.exceptions import CodeExecutionError, SandboxViolation
from agentic_django.harness.policies import ResourcePolicy
from agentic_django.harness.sandbox import ForkServerSandbox, SandboxLimits, SubprocessSandbox

ROOT = os.geteuid() == 0


async def test_data_in_result_out_round_trip(sandbox: ForkServerSandbox) -> None:
    code = "import statistics\nresult = {'mean': statistics.mean(data['xs']), 'n': len(data['xs'])}"
    outcome = await sandbox.execute(code, {"xs": [1, 2, 3, 6]})
    assert outcome.result == {"mean": 3, "n": 4}
    assert outcome.backend == "forkserver"
    assert outcome.duration_ms > 0


async def test_print_is_captured_separately_from_the_result(sandbox: ForkServerSandbox) -> None:
    outcome = await sandbox.execute("print('hello', 42)\nresult = [1]")
    assert outcome.stdout == "hello 42\n"
    assert outcome.result == [1]


async def test_missing_result_is_none(sandbox: ForkServerSandbox) -> None:
    assert (await sandbox.execute("x = 1")).result is None


async def test_exception_becomes_code_execution_error_with_type_and_message(
    sandbox: ForkServerSandbox,
) -> None:
    with pytest.raises(CodeExecutionError) as info:
        await sandbox.execute("x = 1\nraise ValueError('bad input')")
    assert info.value.details["error_type"] == "ValueError"
    assert info.value.details["error_message"] == "bad input"
    assert info.value.details["line"] == 2
    assert "ValueError: bad input" in str(info.value)


async def test_imports_outside_the_allowlist_fail_at_run_time(sandbox: ForkServerSandbox) -> None:
    with pytest.raises(CodeExecutionError) as info:
        await sandbox.execute("import os")
    assert info.value.details["error_type"] == "ImportError"


async def test_imported_modules_hide_private_names_and_foreign_modules(
    sandbox: ForkServerSandbox,
) -> None:
    code = (
        "import json, collections\n"
        "result = [hasattr(json, 'codecs'), hasattr(collections, '_sys'), "
        "json.dumps({'a': 1}), hasattr(collections, 'abc')]"
    )
    assert (await sandbox.execute(code)).result == [False, False, '{"a": 1}', True]


async def test_open_and_eval_are_not_builtins(sandbox: ForkServerSandbox) -> None:
    for code in ("open('/etc/passwd')", "eval('1')", "getattr(1, 'real')"):
        with pytest.raises(CodeExecutionError) as info:
            await sandbox.execute(code)
        assert info.value.details["error_type"] == "NameError"


async def test_unserialisable_result_is_an_execution_error(sandbox: ForkServerSandbox) -> None:
    with pytest.raises(CodeExecutionError) as info:
        await sandbox.execute("result = {1, 2}")
    assert info.value.details["error_type"] == "TypeError"


async def test_unserialisable_data_is_refused_before_running(sandbox: ForkServerSandbox) -> None:
    with pytest.raises(CodeExecutionError):
        await sandbox.execute("result = 1", data={"x": object()})


async def test_memory_bomb_is_a_sandbox_violation(sandbox: ForkServerSandbox) -> None:
    with pytest.raises(SandboxViolation) as info:
        await sandbox.execute("x = bytearray(2 * 1024 ** 3)")
    assert "memory" in str(info.value)


async def test_infinite_loop_is_stopped_by_the_cpu_limit(sandbox: ForkServerSandbox) -> None:
    # A wall-clock limit far above the CPU limit: on a loaded machine one CPU-second can
    # take several seconds of wall time, and the CPU limit is what this test is about.
    limits = SandboxLimits(cpu_seconds=1, wall_seconds=60)
    with pytest.raises(SandboxViolation) as info:
        await sandbox.execute("while True:\n    pass", limits=limits)
    assert info.value.violations == ["cpu_time"]


async def test_wall_clock_kills_code_before_its_cpu_limit(sandbox: ForkServerSandbox) -> None:
    limits = SandboxLimits(cpu_seconds=30, wall_seconds=0.5)
    with pytest.raises(SandboxViolation) as info:
        await sandbox.execute("while True:\n    pass", limits=limits)
    assert info.value.violations == ["wall_time"]


async def test_output_flood_is_a_sandbox_violation(sandbox: ForkServerSandbox) -> None:
    with pytest.raises(SandboxViolation) as info:
        await sandbox.execute("while True:\n    print('x' * 1000)")
    assert "output" in str(info.value)


async def test_oversized_result_is_a_sandbox_violation(sandbox: ForkServerSandbox) -> None:
    with pytest.raises(SandboxViolation):
        await sandbox.execute("result = 'x' * 1_000_000")


async def test_concurrent_executions_are_served_by_the_pool(sandbox: ForkServerSandbox) -> None:
    codes = [f"result = data * {n}" for n in range(8)]
    outcomes = await asyncio.gather(*(sandbox.execute(code, 3) for code in codes))
    assert [o.result for o in outcomes] == [3 * n for n in range(8)]
    assert len(sandbox.servers) == 2


async def test_a_killed_server_is_restarted(secret: str) -> None:
    with ForkServerSandbox(pool_size=1) as box:
        box.start()
        server = box.servers[0]
        assert server.process is not None
        old_pid = server.process.pid
        os.kill(old_pid, signal.SIGKILL)
        server.process.wait()
        outcome = await box.execute("result = 7")
        assert outcome.result == 7
        assert server.process is not None and server.process.pid != old_pid


async def test_close_stops_every_server(secret: str) -> None:
    box = ForkServerSandbox(pool_size=2)
    box.start()
    processes = [s.process for s in box.servers]
    box.close()
    assert all(p is not None and p.poll() is not None for p in processes)


async def test_isolation_is_reported(sandbox: ForkServerSandbox) -> None:
    isolation = (await sandbox.execute("result = 1")).isolation
    if ROOT:
        assert isolation.chroot and isolation.uid_dropped and isolation.uid == 65534
        assert isolation.network_namespace
    else:
        assert isolation.uid != 0


async def test_resource_policy_limits_are_enforced(sandbox: ForkServerSandbox) -> None:
    limits = ResourcePolicy(max_cpu_seconds=0.5, max_wall_seconds=5).to_limits()
    with pytest.raises(SandboxViolation):
        await sandbox.execute("while True:\n    pass", limits=limits)


async def test_subprocess_sandbox_has_the_same_contract(secret: str) -> None:
    box = SubprocessSandbox(SandboxLimits(cpu_seconds=1, wall_seconds=5))
    outcome = await box.execute("import math\nprint('p')\nresult = math.floor(data)", 2.5)
    assert (outcome.result, outcome.stdout, outcome.backend) == (2, "p\n", "subprocess")
    with pytest.raises(CodeExecutionError) as info:
        await box.execute("1 / 0")
    assert info.value.details["error_type"] == "ZeroDivisionError"
    with pytest.raises(SandboxViolation):
        await box.execute("while True:\n    pass")


def test_sync_execution_for_synchronous_callers(sandbox: ForkServerSandbox) -> None:
    assert sandbox.execute_sync("result = data + 1", 1).result == 2


async def test_helpers_that_import_lazily_work_inside_the_chroot(
    sandbox: ForkServerSandbox,
) -> None:
    code = (
        "from collections import Counter\n"
        "import datetime\n"
        "top = Counter('abracadabra').most_common(1)\n"
        "day = datetime.datetime.strptime('2024-05-01', '%Y-%m-%d').day\n"
        "size = len('hé'.encode('utf-16'))\n"
        "result = [top[0][0], day, size]"
    )
    assert (await sandbox.execute(code)).result == ["a", 1, 6]
