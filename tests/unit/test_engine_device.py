"""A run's process-wide torch settings: deterministic algorithms on the CPU while it runs, restored after, set
without loading torch.compile's machinery (which a run that does not compile never uses), and handed to that
machinery when a run does compile."""

import subprocess
import sys
import textwrap

import torch

from worker.engine.device import compiled, runtime


def test_a_cpu_run_is_deterministic_while_it_runs_and_restored_after() -> None:
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    with runtime(torch.device("cpu")):
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled()) == before


def test_the_runtime_does_not_import_torch_compiles_machinery() -> None:
    """In a fresh process, as a worker's run process is: torch._inductor stays unloaded (1.2 s of CPU a run)."""
    code = textwrap.dedent("""
        import sys, torch
        from worker.engine.device import runtime
        with runtime(torch.device("cpu")):
            assert torch.are_deterministic_algorithms_enabled()
        print(sorted(m for m in sys.modules if m.startswith(("torch._inductor", "torchvision"))))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_a_compiled_run_tells_inductor_the_deterministic_mode() -> None:
    import torch._inductor.config as inductor

    saved = inductor.deterministic
    try:
        inductor.deterministic = False
        with runtime(torch.device("cpu")):
            forward = compiled(torch.nn.Linear(2, 2))  # compiles lazily, at its first call: nothing runs here
            assert inductor.deterministic is True
        assert callable(forward)
    finally:
        inductor.deterministic = saved
